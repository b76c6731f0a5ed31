// RUN: graphc opt %s -p fuse-remaining | filecheck %s

// fuse-remaining: every op no other rule fused gets a region of its own — `opaque` when there is no
// template (gather, top_k with its two results), otherwise its template's kind. Weights stay
// outside as operands; a reshape stays outside as a free view (no kernel, no copy).

// CHECK:      %[[TABLE:.*]] = graph.constant {value = dense_resource<table> : tensor<100x8xf32>}
// CHECK-NEXT: %[[G:.*]] = fusion.region "fusion_0" kind "opaque"(%[[TABLE]], %ids) : (tensor<100x8xf32>, tensor<4xi32>) -> tensor<4x8xf32>
// CHECK-NEXT: ^bb0
// CHECK-NEXT:   graph.gather
// CHECK-NEXT:   fusion.yield
// CHECK:      %[[V:.*]], %[[I:.*]] = fusion.region "fusion_1" kind "opaque"(%[[G]])
// CHECK-NEXT: ^bb0
// CHECK-NEXT:   graph.top_k
// CHECK-NEXT:   fusion.yield
// CHECK:      %[[R:.*]] = graph.reshape %[[V]] {shape = array<i64: 8>}
// CHECK-NEXT: %[[E:.*]] = fusion.region "fusion_2" kind "loop"(%[[R]]) {shape = array<i64: 8>}
// CHECK-NEXT: ^bb0
// CHECK-NEXT:   graph.exp
// CHECK-NEXT:   fusion.yield
// CHECK:      func.return %[[E]], %[[I]]

func.func @main(%ids: tensor<4xi32>) -> (tensor<8xf32>, tensor<4x2xi32>) {
  %table = graph.constant {value = dense_resource<table> : tensor<100x8xf32>} : tensor<100x8xf32>
  %g = graph.gather %table, %ids {axis = 0 : i64, batch_dims = 0 : i64} : (tensor<100x8xf32>, tensor<4xi32>) -> tensor<4x8xf32>
  %v, %i = graph.top_k %g {k = 2 : i64, index_type = i32} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  %r = graph.reshape %v {shape = array<i64: 8>} : (tensor<4x2xf32>) -> tensor<8xf32>
  %e = graph.exp %r : (tensor<8xf32>) -> tensor<8xf32>
  func.return %e, %i : tensor<8xf32>, tensor<4x2xi32>
}
