// RUN: graphc opt %s -p fuse-epilogues | filecheck %s

// fuse-epilogues on matmuls:
// - bias add and swish (x * sigmoid(x)) after a reshape that only splits the rows: the epilogue
//   keeps the root's element count, so it runs at the root's linear index (`shape` is the root's);
// - an epilogue value also used outside (the pre-activation `%pre`) is an extra result (results
//   are in program order);
// - a transpose is not an epilogue (it moves elements): it stays outside for later passes.

// CHECK:      %[[PRE:.*]], %[[Y:.*]] = fusion.region "fusion_0" kind "matmul"(%x, %w, %b) {shape = array<i64: 32, 64>} : {{.*}} -> (tensor<2x16x64xf32>, tensor<2x16x64xf32>)
// CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<32x16xf32>, %[[W:.*]]: tensor<16x64xf32>, %[[B:.*]]: tensor<64xf32>):
// CHECK-NEXT:   %[[MM:.*]] = graph.matmul %[[X]], %[[W]]
// CHECK-NEXT:   %[[RS:.*]] = graph.reshape %[[MM]] {shape = array<i64: 2, 16, 64>}
// CHECK-NEXT:   %[[ADD:.*]] = graph.add %[[RS]], %[[B]]
// CHECK-NEXT:   %[[SIG:.*]] = graph.sigmoid %[[ADD]]
// CHECK-NEXT:   %[[MUL:.*]] = graph.mul %[[ADD]], %[[SIG]]
// CHECK-NEXT:   fusion.yield %[[ADD]], %[[MUL]]

// CHECK:      %[[T:.*]] = fusion.region "fusion_1" kind "matmul"(%x, %w)
// CHECK:        graph.matmul
// CHECK-NEXT:   graph.tanh
// CHECK-NEXT:   fusion.yield
// CHECK:      %[[TR:.*]] = graph.transpose %[[T]]
// CHECK-NEXT: func.return %[[Y]], %[[PRE]], %[[TR]]

func.func @main(%x: tensor<32x16xf32>, %w: tensor<16x64xf32>, %b: tensor<64xf32>) -> (tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64x32xf32>) {
  %0 = graph.matmul %x, %w : (tensor<32x16xf32>, tensor<16x64xf32>) -> tensor<32x64xf32>
  %1 = graph.reshape %0 {shape = array<i64: 2, 16, 64>} : (tensor<32x64xf32>) -> tensor<2x16x64xf32>
  %pre = graph.add %1, %b : (tensor<2x16x64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
  %3 = graph.sigmoid %pre : (tensor<2x16x64xf32>) -> tensor<2x16x64xf32>
  %4 = graph.mul %pre, %3 : (tensor<2x16x64xf32>, tensor<2x16x64xf32>) -> tensor<2x16x64xf32>
  %5 = graph.matmul %x, %w : (tensor<32x16xf32>, tensor<16x64xf32>) -> tensor<32x64xf32>
  %6 = graph.tanh %5 : (tensor<32x64xf32>) -> tensor<32x64xf32>
  %7 = graph.transpose %6 {perm = array<i64: 1, 0>} : (tensor<32x64xf32>) -> tensor<64x32xf32>
  func.return %4, %pre, %7 : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64x32xf32>
}
