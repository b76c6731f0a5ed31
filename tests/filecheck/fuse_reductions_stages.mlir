// RUN: graphc opt %s -p fuse-reductions | filecheck %s
// RUN: graphc opt %s -p 'fuse-reductions{max-sweeps=1}' | filecheck %s --check-prefix=ONE

// fuse-reductions: a reduction of a value that depends on another reduction of the same rows needs
// a second pass (`sweeps = 2`: the max of |x - mean| needs the mean first; no online rewrite exists
// for it). A reduction over other axes (the column sum) is another iteration space: its own region.

// CHECK:      fusion.region "fusion_0" kind "reduction"(%x) {shape = array<i64: 64, 128>, reduce_axes = array<i64: 1>, sweeps = 2 : i64}
// CHECK:        graph.reduce_mean
// CHECK-NEXT:   graph.sub
// CHECK-NEXT:   graph.abs
// CHECK-NEXT:   graph.reduce_max
// CHECK-NEXT:   fusion.yield
// CHECK:      fusion.region "fusion_1" kind "reduction"(%x) {shape = array<i64: 64, 128>, reduce_axes = array<i64: 0>, sweeps = 1 : i64}
// CHECK-NEXT: ^bb0
// CHECK-NEXT:   graph.reduce_sum
// CHECK-NEXT:   fusion.yield

// With `max-sweeps=1` (the cost model's limit on passes over a row) the staged pair is split.
// ONE:      %[[M:.*]] = fusion.region "fusion_0" kind "reduction"(%x) {{.*}}sweeps = 1 : i64}
// ONE:        graph.reduce_mean
// ONE-NEXT:   fusion.yield
// ONE:      fusion.region "fusion_1" kind "reduction"(%x, %[[M]]) {{.*}}sweeps = 1 : i64}
// ONE:        graph.sub
// ONE-NEXT:   graph.abs
// ONE-NEXT:   graph.reduce_max
// ONE:      fusion.region "fusion_2" kind "reduction"

func.func @main(%x: tensor<64x128xf32>) -> (tensor<64x1xf32>, tensor<128xf32>) {
  %m = graph.reduce_mean %x {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<64x128xf32>) -> tensor<64x1xf32>
  %d = graph.sub %x, %m : (tensor<64x128xf32>, tensor<64x1xf32>) -> tensor<64x128xf32>
  %a = graph.abs %d : (tensor<64x128xf32>) -> tensor<64x128xf32>
  %mx = graph.reduce_max %a {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<64x128xf32>) -> tensor<64x1xf32>
  %col = graph.reduce_sum %x {axes = array<i64: 0>, keepdims = 0 : i64} : (tensor<64x128xf32>) -> tensor<128xf32>
  func.return %mx, %col : tensor<64x1xf32>, tensor<128xf32>
}
