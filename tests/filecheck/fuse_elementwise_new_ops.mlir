// RUN: graphc opt %s -p fuse-elementwise,fuse-remaining | filecheck %s

// The ops added for ONNX fuse like every elementwise op (they are `graph` elementwise unaries and
// binaries): tan, asinh, rem, a cast to bf16 and is_inf share one `loop` region (two results, one
// pass over %x); shift_left, shift_right and a bitwise not on i32, with a per-column shift amount,
// another. gather_elements, scatter_elements and cumprod have no fusion template: each is an
// `opaque` region of its own (one kernel), never merged with a neighbour.

// CHECK-LABEL: func.func @main
// CHECK:       %[[B:.*]], %[[INF:.*]] = fusion.region "fusion_0" kind "loop"(%x) {shape = array<i64: 64, 32>}
// CHECK-NEXT:  ^bb0(%[[X:.*]]: tensor<64x32xf32>):
// CHECK-NEXT:    %[[T:.*]] = graph.tan %[[X]]
// CHECK-NEXT:    %[[A:.*]] = graph.asinh %[[T]]
// CHECK-NEXT:    %[[R:.*]] = graph.rem %[[A]], %[[X]]
// CHECK-NEXT:    %[[C:.*]] = graph.cast %[[R]] {to = bf16} : (tensor<64x32xf32>) -> tensor<64x32xbf16>
// CHECK-NEXT:    %[[I:.*]] = graph.is_inf %[[T]] : (tensor<64x32xf32>) -> tensor<64x32xi1>
// CHECK-NEXT:    fusion.yield %[[C]], %[[I]] : tensor<64x32xbf16>, tensor<64x32xi1>
// CHECK:       %[[Q:.*]] = fusion.region "fusion_1" kind "loop"(%n, %s) {shape = array<i64: 64, 32>}
// CHECK-NEXT:  ^bb0(%[[N:.*]]: tensor<64x32xi32>, %[[S:.*]]: tensor<32xi32>):
// CHECK-NEXT:    %[[L:.*]] = graph.shift_left %[[N]], %[[S]]
// CHECK-NEXT:    %[[H:.*]] = graph.shift_right %[[L]], %[[S]]
// CHECK-NEXT:    %[[NOT:.*]] = graph.not %[[H]]
// CHECK-NEXT:    fusion.yield %[[NOT]]
// CHECK:       %[[G:.*]] = fusion.region "fusion_2" kind "opaque"(%x, %k)
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    graph.gather_elements {{.*}} {axis = 0 : i64}
// CHECK-NEXT:    fusion.yield
// CHECK:       %[[SC:.*]] = fusion.region "fusion_3" kind "opaque"(%x, %k, %[[G]])
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    graph.scatter_elements {{.*}} {axis = 0 : i64, reduction = "max"}
// CHECK-NEXT:    fusion.yield
// CHECK:       %[[CP:.*]] = fusion.region "fusion_4" kind "opaque"(%x)
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    graph.cumprod {{.*}} {axis = 1 : i64, exclusive = 0 : i64, reverse = 1 : i64}
// CHECK-NEXT:    fusion.yield
// CHECK:       func.return %[[B]], %[[INF]], %[[Q]], %[[SC]], %[[CP]]

func.func @main(%x: tensor<64x32xf32>, %n: tensor<64x32xi32>, %s: tensor<32xi32>, %k: tensor<8x32xi64>) -> (tensor<64x32xbf16>, tensor<64x32xi1>, tensor<64x32xi32>, tensor<64x32xf32>, tensor<64x32xf32>) {
  %t = graph.tan %x : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %a = graph.asinh %t : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %r = graph.rem %a, %x : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  %b = graph.cast %r {to = bf16} : (tensor<64x32xf32>) -> tensor<64x32xbf16>
  %inf = graph.is_inf %t : (tensor<64x32xf32>) -> tensor<64x32xi1>
  %l = graph.shift_left %n, %s : (tensor<64x32xi32>, tensor<32xi32>) -> tensor<64x32xi32>
  %h = graph.shift_right %l, %s : (tensor<64x32xi32>, tensor<32xi32>) -> tensor<64x32xi32>
  %q = graph.not %h : (tensor<64x32xi32>) -> tensor<64x32xi32>
  %g = graph.gather_elements %x, %k {axis = 0 : i64} : (tensor<64x32xf32>, tensor<8x32xi64>) -> tensor<8x32xf32>
  %sc = graph.scatter_elements %x, %k, %g {axis = 0 : i64, reduction = "max"} : (tensor<64x32xf32>, tensor<8x32xi64>, tensor<8x32xf32>) -> tensor<64x32xf32>
  %c = graph.cumprod %x {axis = 1 : i64, exclusive = 0 : i64, reverse = 1 : i64} : (tensor<64x32xf32>) -> tensor<64x32xf32>
  func.return %b, %inf, %q, %sc, %c : tensor<64x32xbf16>, tensor<64x32xi1>, tensor<64x32xi32>, tensor<64x32xf32>, tensor<64x32xf32>
}
