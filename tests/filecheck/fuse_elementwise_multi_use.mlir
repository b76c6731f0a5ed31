// RUN: graphc opt %s -p fuse-elementwise | filecheck %s

// fuse-elementwise: a producer whose value is also needed outside the region (here returned) stays
// in the region and becomes an extra result of the same iteration space: it is stored from the same
// loop instead of being recomputed or re-read.

// CHECK:      %[[E0:.*]], %[[T0:.*]] = fusion.region "fusion_0" kind "loop"(%x) {shape = array<i64: 16, 16>} : (tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>)
// CHECK:        %[[E:.*]] = graph.exp
// CHECK-NEXT:   %[[N:.*]] = graph.neg %[[E]]
// CHECK-NEXT:   %[[T:.*]] = graph.tanh %[[N]]
// CHECK-NEXT:   fusion.yield %[[E]], %[[T]]

// A small vector computed with its own arithmetic and then broadcast into a bigger consumer is
// fused (recomputing 8 rsqrt's per row costs less than a kernel and a round trip through memory).
// CHECK:      %[[M:.*]] = fusion.region "fusion_1" kind "loop"(%v, %y) {shape = array<i64: 128, 8>}
// CHECK:        graph.rsqrt
// CHECK-NEXT:   graph.mul
// CHECK-NOT:  fusion.region
// CHECK:      func.return %[[E0]], %[[T0]], %[[M]]

func.func @main(%x: tensor<16x16xf32>, %y: tensor<128x8xf32>, %v: tensor<8xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<128x8xf32>) {
  %e = graph.exp %x : (tensor<16x16xf32>) -> tensor<16x16xf32>
  %n = graph.neg %e : (tensor<16x16xf32>) -> tensor<16x16xf32>
  %t = graph.tanh %n : (tensor<16x16xf32>) -> tensor<16x16xf32>
  %r = graph.rsqrt %v : (tensor<8xf32>) -> tensor<8xf32>
  %m = graph.mul %y, %r : (tensor<128x8xf32>, tensor<8xf32>) -> tensor<128x8xf32>
  func.return %e, %t, %m : tensor<16x16xf32>, tensor<16x16xf32>, tensor<128x8xf32>
}
