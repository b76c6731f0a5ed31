// RUN: sed -e 's/1x16/8x16/g' %s | graphc opt - --no-verify-input -p infer-shapes | filecheck %s

// infer-shapes: after an edit of @main's argument types (here the batch dimension of the input,
// changed from 1 to 8 by `sed` on this very file, which leaves the reduction's 1x1 result stale),
// every result type is recomputed in order and the function type follows what it returns.

// CHECK:      func.func @main(%x: tensor<8x16xf32>) -> tensor<8x1xf32>
// CHECK-NEXT:   %[[E:.*]] = graph.exp %x : (tensor<8x16xf32>) -> tensor<8x16xf32>
// CHECK-NEXT:   %[[S:.*]] = graph.reduce_sum %[[E]] {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<8x16xf32>) -> tensor<8x1xf32>
// CHECK-NEXT:   func.return %[[S]] : tensor<8x1xf32>

func.func @main(%x: tensor<1x16xf32>) -> tensor<1x1xf32> {
  %0 = graph.exp %x : (tensor<1x16xf32>) -> tensor<1x16xf32>
  %1 = graph.reduce_sum %0 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<1x16xf32>) -> tensor<1x1xf32>
  func.return %1 : tensor<1x1xf32>
}
