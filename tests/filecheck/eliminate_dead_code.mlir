// RUN: graphc opt %s -p eliminate-dead-code | filecheck %s

// eliminate-dead-code: graph ops whose results reach no func.return are removed (front ends
// translate whole graphs, training leftovers included); everything the outputs need stays.

// CHECK:      func.func @main(%x: tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT:   %[[E:.*]] = graph.exp %x
// CHECK-NEXT:   func.return %[[E]]

func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %c = graph.constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %dead = graph.add %x, %c : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %dead2 = graph.tanh %dead : (tensor<8xf32>) -> tensor<8xf32>
  %e = graph.exp %x : (tensor<8xf32>) -> tensor<8xf32>
  func.return %e : tensor<8xf32>
}
