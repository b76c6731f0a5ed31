// RUN: graphc opt %s -p fuse-epilogues,fuse-reductions,fuse-siblings | filecheck %s
// RUN: graphc opt %s -p fuse-siblings,fuse-remaining | filecheck %s --check-prefix=LOOP

// fuse-siblings: kernels reading the same input merge into one multi-output region, so `%x` is read
// once: two elementwise maps and two row reductions of the same rows become one `reduction` region
// with four results (full-shaped and row-shaped). Matmul regions keep their single root.

// CHECK:      %[[E:.*]], %[[T:.*]], %[[S:.*]], %[[M:.*]] = fusion.region "fusion_0" kind "reduction"(%x) {shape = array<i64: 64, 128>, reduce_axes = array<i64: 1>, sweeps = 1 : i64}
// CHECK-SAME:   -> (tensor<64x128xf32>, tensor<64x128xf32>, tensor<64x1xf32>, tensor<64x1xf32>)
// CHECK:        graph.exp
// CHECK-NEXT:   graph.tanh
// CHECK-NEXT:   graph.reduce_sum
// CHECK-NEXT:   graph.reduce_max
// CHECK-NEXT:   fusion.yield
// CHECK:      %[[A:.*]] = fusion.region "fusion_1" kind "matmul"(%x, %w)
// CHECK:      %[[B:.*]] = fusion.region "fusion_2" kind "matmul"(%x, %w)
// CHECK:      func.return %[[E]], %[[T]], %[[S]], %[[M]], %[[A]], %[[B]]

// Without fuse-reductions first, plain ops are siblings too (each counts as its future kernel).
// LOOP:     fusion.region "fusion_0" kind "reduction"(%x)
// LOOP-NOT: fusion.region "fusion_3"

func.func @main(%x: tensor<64x128xf32>, %w: tensor<128x16xf32>) -> (tensor<64x128xf32>, tensor<64x128xf32>, tensor<64x1xf32>, tensor<64x1xf32>, tensor<64x16xf32>, tensor<64x16xf32>) {
  %e = graph.exp %x : (tensor<64x128xf32>) -> tensor<64x128xf32>
  %t = graph.tanh %x : (tensor<64x128xf32>) -> tensor<64x128xf32>
  %s = graph.reduce_sum %x {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<64x128xf32>) -> tensor<64x1xf32>
  %m = graph.reduce_max %x {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<64x128xf32>) -> tensor<64x1xf32>
  %a = graph.matmul %x, %w : (tensor<64x128xf32>, tensor<128x16xf32>) -> tensor<64x16xf32>
  %b = graph.matmul %x, %w : (tensor<64x128xf32>, tensor<128x16xf32>) -> tensor<64x16xf32>
  func.return %e, %t, %s, %m, %a, %b : tensor<64x128xf32>, tensor<64x128xf32>, tensor<64x1xf32>, tensor<64x1xf32>, tensor<64x16xf32>, tensor<64x16xf32>
}
