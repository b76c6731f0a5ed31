// RUN: not graphc opt %s 2>&1 | filecheck %s

// A region's attributes are implied by its body and checked against it: this softmax needs two
// passes over a row, not one.

// CHECK: graphc: error: {{.*}}: IR does not verify: fusion.region fusion_0: attribute sweeps is 1 : i64, the body implies 2 : i64

func.func @main(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %r = fusion.region "fusion_0" kind "reduction"(%x) {shape = array<i64: 4, 16>, reduce_axes = array<i64: 1>, sweeps = 1 : i64} : (tensor<4x16xf32>) -> tensor<4x16xf32> {
  ^bb0(%a: tensor<4x16xf32>):
    %0 = graph.reduce_max %a {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<4x16xf32>) -> tensor<4x1xf32>
    %1 = graph.sub %a, %0 : (tensor<4x16xf32>, tensor<4x1xf32>) -> tensor<4x16xf32>
    %2 = graph.exp %1 : (tensor<4x16xf32>) -> tensor<4x16xf32>
    %3 = graph.reduce_sum %2 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<4x16xf32>) -> tensor<4x1xf32>
    %4 = graph.div %2, %3 : (tensor<4x16xf32>, tensor<4x1xf32>) -> tensor<4x16xf32>
    fusion.yield %4 : tensor<4x16xf32>
  }
  func.return %r : tensor<4x16xf32>
}
