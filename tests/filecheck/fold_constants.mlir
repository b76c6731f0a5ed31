// RUN: graphc opt %s -p fold-constants | filecheck %s

// fold-constants: ops whose operands are all constants are evaluated at compile time (here Keras'
// batch-norm weight arithmetic: a = gamma * rsqrt(var + eps), b = beta - mean * a), leaving one
// multiply-add on the input. Dead constants are removed.

// CHECK:      func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:   %[[A:.*]] = graph.constant {value = dense<[2.000000e+00, 1.000000e+00, 5.000000e-01, 2.500000e-01]> : tensor<4xf32>}
// CHECK-NEXT:   %[[B:.*]] = graph.constant {value = dense<1.000000e+00> : tensor<4xf32>}
// CHECK-NEXT:   %[[M:.*]] = graph.mul %x, %[[A]]
// CHECK-NEXT:   %[[Y:.*]] = graph.add %[[M]], %[[B]]
// CHECK-NEXT:   func.return %[[Y]]

// A broadcast that would blow a scalar up into a big constant is left alone.
// CHECK:      func.func @big(%x: tensor<256x256xf32>)
// CHECK:        graph.broadcast_to

func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %gamma = graph.constant {value = dense<[2.0, 2.0, 2.0, 2.0]> : tensor<4xf32>} : tensor<4xf32>
  %beta = graph.constant {value = dense<[3.0, 2.0, 1.5, 1.25]> : tensor<4xf32>} : tensor<4xf32>
  %mean = graph.constant {value = dense<1.0> : tensor<4xf32>} : tensor<4xf32>
  %var = graph.constant {value = dense<[1.0, 4.0, 16.0, 64.0]> : tensor<4xf32>} : tensor<4xf32>
  %eps = graph.constant {value = dense<0.0> : tensor<f32>} : tensor<f32>
  %0 = graph.add %var, %eps : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = graph.rsqrt %0 : (tensor<4xf32>) -> tensor<4xf32>
  %a = graph.mul %gamma, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = graph.mul %mean, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %b = graph.sub %beta, %2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = graph.mul %x, %a : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %4 = graph.add %3, %b : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  func.return %4 : tensor<2x4xf32>
}

func.func @big(%x: tensor<256x256xf32>) -> tensor<256x256xf32> {
  %c = graph.constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %b = graph.broadcast_to %c {shape = array<i64: 256, 256>} : (tensor<f32>) -> tensor<256x256xf32>
  %y = graph.mul %x, %b : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
  func.return %y : tensor<256x256xf32>
}
