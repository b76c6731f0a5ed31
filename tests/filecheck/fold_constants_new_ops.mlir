// RUN: graphc opt %s -p fold-constants | filecheck %s

// fold-constants evaluates the new integer ops with their edge cases, as numpy does:
// shift_left by 40 or 33 on i32 shifts everything out (0); shift_right of -8 by 33 gives -1 (the
// sign); rem truncates with the dividend's sign (-7 rem 2 = -1), and by 0 gives 0 (never a trap);
// not is bitwise (~x). Lane by lane: (0|0)^~0 = -1, (0|-1)^~0 = 0, (-7|-7)^~(-1) = -7,
// (9|9)^~0 = -10, (7|7)^~0 = -8. The whole chain folds into one constant added to %x.

// CHECK-LABEL: func.func @main
// CHECK-NEXT:  %[[C:.*]] = graph.constant {value = dense<[-1, 0, -7, -10, -8]> : tensor<5xi32>}
// CHECK-NEXT:  %[[Y:.*]] = graph.add %x, %[[C]]
// CHECK-NEXT:  func.return %[[Y]]

func.func @main(%x: tensor<5xi32>) -> tensor<5xi32> {
  %a = graph.constant {value = dense<[300, -8, -7, 9, 7]> : tensor<5xi32>} : tensor<5xi32>
  %s = graph.constant {value = dense<[40, 33, 0, 0, 0]> : tensor<5xi32>} : tensor<5xi32>
  %d = graph.constant {value = dense<[1, 1, 2, 0, 1]> : tensor<5xi32>} : tensor<5xi32>
  %l = graph.shift_left %a, %s : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi32>
  %r = graph.shift_right %a, %s : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi32>
  %m = graph.rem %a, %d : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi32>
  %n = graph.not %m : (tensor<5xi32>) -> tensor<5xi32>
  %lr = graph.or %l, %r : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi32>
  %v = graph.xor %lr, %n : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi32>
  %y = graph.add %x, %v : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi32>
  func.return %y : tensor<5xi32>
}
