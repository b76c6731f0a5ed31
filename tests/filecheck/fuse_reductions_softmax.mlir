// RUN: graphc opt %s -p fuse-reductions | filecheck %s

// fuse-reductions: a softmax (as `decompose` leaves it) with the scaling before it is one
// `reduction` region over 64 rows of 128: the row max, the sum of exponentials and the normalised
// output. `sweeps = 2`: max and sum-exp are one pass (online softmax), the output a second.

// CHECK:      %[[R:.*]] = fusion.region "fusion_0" kind "reduction"(%x, %s) {shape = array<i64: 64, 128>, reduce_axes = array<i64: 1>, sweeps = 2 : i64}
// CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<64x128xf32>, %[[S:.*]]: tensor<f32>):
// CHECK-NEXT:   %[[Y:.*]] = graph.mul %[[X]], %[[S]]
// CHECK-NEXT:   %[[MAX:.*]] = graph.reduce_max %[[Y]] {axes = array<i64: 1>, keepdims = 1 : i64}
// CHECK-NEXT:   %[[D:.*]] = graph.sub %[[Y]], %[[MAX]]
// CHECK-NEXT:   %[[E:.*]] = graph.exp %[[D]]
// CHECK-NEXT:   %[[SUM:.*]] = graph.reduce_sum %[[E]] {axes = array<i64: 1>, keepdims = 1 : i64}
// CHECK-NEXT:   %[[OUT:.*]] = graph.div %[[E]], %[[SUM]]
// CHECK-NEXT:   fusion.yield %[[OUT]] : tensor<64x128xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %[[R]]

func.func @main(%x: tensor<64x128xf32>, %s: tensor<f32>) -> tensor<64x128xf32> {
  %0 = graph.mul %x, %s : (tensor<64x128xf32>, tensor<f32>) -> tensor<64x128xf32>
  %1 = graph.reduce_max %0 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<64x128xf32>) -> tensor<64x1xf32>
  %2 = graph.sub %0, %1 : (tensor<64x128xf32>, tensor<64x1xf32>) -> tensor<64x128xf32>
  %3 = graph.exp %2 : (tensor<64x128xf32>) -> tensor<64x128xf32>
  %4 = graph.reduce_sum %3 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<64x128xf32>) -> tensor<64x1xf32>
  %5 = graph.div %3, %4 : (tensor<64x128xf32>, tensor<64x1xf32>) -> tensor<64x128xf32>
  func.return %5 : tensor<64x128xf32>
}
