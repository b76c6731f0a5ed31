// RUN: graphc opt %s -p unfuse | filecheck %s
// RUN: graphc opt %s -p unfuse,fuse-elementwise | filecheck %s --check-prefix=REFUSE

// unfuse: regions are inlined back into plain graph ops: block arguments become the operands, the
// results the yielded values, and the immediates inside become plain constants. Fusing again gives
// the same region back.

// CHECK-NOT:  fusion.
// CHECK:      %[[C:.*]] = graph.constant {value = dense<2.000000e+00> : tensor<f32>}
// CHECK-NEXT: %[[M:.*]] = graph.mul %x, %a
// CHECK-NEXT: %[[E:.*]] = graph.exp %[[M]]
// CHECK-NEXT: %[[Y:.*]] = graph.mul %[[E]], %[[C]]
// CHECK-NEXT: func.return %[[Y]], %[[M]]

// REFUSE:      fusion.region "fusion_0" kind "loop"(%x, %a) {shape = array<i64: 4, 8>} : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)

func.func @main(%x: tensor<4x8xf32>, %a: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %y, %m = fusion.region "fusion_0" kind "loop"(%x, %a) {shape = array<i64: 4, 8>} : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%bx: tensor<4x8xf32>, %ba: tensor<8xf32>):
    %c = graph.constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
    %0 = graph.mul %bx, %ba : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    %1 = graph.exp %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %2 = graph.mul %1, %c : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    fusion.yield %2, %0 : tensor<4x8xf32>, tensor<4x8xf32>
  }
  func.return %y, %m : tensor<4x8xf32>, tensor<4x8xf32>
}
