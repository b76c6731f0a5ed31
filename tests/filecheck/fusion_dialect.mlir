// RUN: graphc opt %s | filecheck %s
// RUN: graphc opt %s | graphc opt - | filecheck %s

// The fusion dialect prints and parses back unchanged (a dump taken after any fusion pass can be fed
// to `graphc opt`), and a region's meaning is its body: running no pass changes nothing.

// CHECK:      %[[R:.*]], %[[S:.*]] = fusion.region "fusion_0" kind "reduction"(%x, %g) {shape = array<i64: 4, 16>, reduce_axes = array<i64: 1>, sweeps = 2 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xf32>, tensor<4x1xf32>) {
// CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<4x16xf32>, %[[G:.*]]: tensor<16xf32>):
// CHECK-NEXT:   %[[M:.*]] = graph.reduce_max %[[X]]
// CHECK-NEXT:   %[[D:.*]] = graph.sub %[[X]], %[[M]]
// CHECK-NEXT:   %[[E:.*]] = graph.exp %[[D]]
// CHECK-NEXT:   %[[SUM:.*]] = graph.reduce_sum %[[E]]
// CHECK-NEXT:   %[[Q:.*]] = graph.div %[[E]], %[[SUM]]
// CHECK-NEXT:   %[[O:.*]] = graph.mul %[[Q]], %[[G]]
// CHECK-NEXT:   fusion.yield %[[O]], %[[SUM]] : tensor<4x16xf32>, tensor<4x1xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[L:.*]] = fusion.region "fusion_1" kind "matmul"(%[[R]], %w) {shape = array<i64: 4, 8>}
// CHECK:      fusion.region "fusion_2" kind "opaque"(%[[L]])
// CHECK:        graph.cumsum
// CHECK:      func.return

func.func @main(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %w: tensor<8x16xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>) {
  %r, %s = fusion.region "fusion_0" kind "reduction"(%x, %g) {shape = array<i64: 4, 16>, reduce_axes = array<i64: 1>, sweeps = 2 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xf32>, tensor<4x1xf32>) {
  ^bb0(%a: tensor<4x16xf32>, %b: tensor<16xf32>):
    %0 = graph.reduce_max %a {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<4x16xf32>) -> tensor<4x1xf32>
    %1 = graph.sub %a, %0 : (tensor<4x16xf32>, tensor<4x1xf32>) -> tensor<4x16xf32>
    %2 = graph.exp %1 : (tensor<4x16xf32>) -> tensor<4x16xf32>
    %3 = graph.reduce_sum %2 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<4x16xf32>) -> tensor<4x1xf32>
    %4 = graph.div %2, %3 : (tensor<4x16xf32>, tensor<4x1xf32>) -> tensor<4x16xf32>
    %5 = graph.mul %4, %b : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
    fusion.yield %5, %3 : tensor<4x16xf32>, tensor<4x1xf32>
  }
  %l = fusion.region "fusion_1" kind "matmul"(%r, %w) {shape = array<i64: 4, 8>} : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x16xf32>, %b: tensor<8x16xf32>):
    %0 = graph.transpose %b {perm = array<i64: 1, 0>} : (tensor<8x16xf32>) -> tensor<16x8xf32>
    %1 = graph.matmul %a, %0 : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %2 = graph.relu %1 : (tensor<4x8xf32>) -> tensor<4x8xf32>
    fusion.yield %2 : tensor<4x8xf32>
  }
  %c = fusion.region "fusion_2" kind "opaque"(%l) : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %0 = graph.cumsum %a {axis = 1 : i64, exclusive = 0 : i64, reverse = 0 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    fusion.yield %0 : tensor<4x8xf32>
  }
  func.return %c, %s : tensor<4x8xf32>, tensor<4x1xf32>
}
