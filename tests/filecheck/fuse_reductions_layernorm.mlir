// RUN: graphc opt %s -p fuse-reductions | filecheck %s

// fuse-reductions: layer normalisation over the last axis is one `reduction` region: mean and
// variance (Welford: one pass), the row values eps/rsqrt computed once per row, and the
// normalised, scaled, shifted output (second pass). gamma and beta are operands; eps an immediate.

// CHECK:      %[[R:.*]] = fusion.region "fusion_0" kind "reduction"(%x, %gamma, %beta) {shape = array<i64: 8, 16, 32>, reduce_axes = array<i64: 2>, sweeps = 2 : i64}
// CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<8x16x32xf32>, %[[G:.*]]: tensor<32xf32>, %[[B:.*]]: tensor<32xf32>):
// CHECK-NEXT:   %[[EPS:.*]] = graph.constant {value = dense<1.000000e-03> : tensor<f32>}
// CHECK-NEXT:   %[[MEAN:.*]] = graph.reduce_mean %[[X]]
// CHECK-NEXT:   %[[D:.*]] = graph.sub %[[X]], %[[MEAN]]
// CHECK-NEXT:   %[[SQ:.*]] = graph.mul %[[D]], %[[D]]
// CHECK-NEXT:   %[[VAR:.*]] = graph.reduce_mean %[[SQ]]
// CHECK-NEXT:   %[[VE:.*]] = graph.add %[[VAR]], %[[EPS]] : (tensor<8x16x1xf32>, tensor<f32>) -> tensor<8x16x1xf32>
// CHECK-NEXT:   %[[INV:.*]] = graph.rsqrt %[[VE]] : (tensor<8x16x1xf32>) -> tensor<8x16x1xf32>
// CHECK-NEXT:   %[[N:.*]] = graph.mul %[[D]], %[[INV]]
// CHECK-NEXT:   %[[SC:.*]] = graph.mul %[[N]], %[[G]]
// CHECK-NEXT:   %[[Y:.*]] = graph.add %[[SC]], %[[B]]
// CHECK-NEXT:   fusion.yield %[[Y]] : tensor<8x16x32xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %[[R]]

func.func @main(%x: tensor<8x16x32xf32>, %gamma: tensor<32xf32>, %beta: tensor<32xf32>) -> tensor<8x16x32xf32> {
  %mean = graph.reduce_mean %x {axes = array<i64: 2>, keepdims = 1 : i64} : (tensor<8x16x32xf32>) -> tensor<8x16x1xf32>
  %d = graph.sub %x, %mean : (tensor<8x16x32xf32>, tensor<8x16x1xf32>) -> tensor<8x16x32xf32>
  %sq = graph.mul %d, %d : (tensor<8x16x32xf32>, tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  %var = graph.reduce_mean %sq {axes = array<i64: 2>, keepdims = 1 : i64} : (tensor<8x16x32xf32>) -> tensor<8x16x1xf32>
  %eps = graph.constant {value = dense<1.0e-3> : tensor<f32>} : tensor<f32>
  %ve = graph.add %var, %eps : (tensor<8x16x1xf32>, tensor<f32>) -> tensor<8x16x1xf32>
  %inv = graph.rsqrt %ve : (tensor<8x16x1xf32>) -> tensor<8x16x1xf32>
  %n = graph.mul %d, %inv : (tensor<8x16x32xf32>, tensor<8x16x1xf32>) -> tensor<8x16x32xf32>
  %g = graph.mul %n, %gamma : (tensor<8x16x32xf32>, tensor<32xf32>) -> tensor<8x16x32xf32>
  %y = graph.add %g, %beta : (tensor<8x16x32xf32>, tensor<32xf32>) -> tensor<8x16x32xf32>
  func.return %y : tensor<8x16x32xf32>
}
