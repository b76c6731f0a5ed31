// RUN: graphc opt %s -p fuse-epilogues,fuse-producers,fuse-elementwise | filecheck %s
// RUN: graphc opt %s -p 'fuse-epilogues,fuse-producers{small-elements=64},fuse-elementwise' | filecheck %s --check-prefix=SMALL

// fuse-producers: a broadcast of a small vector used by two consumers that land in different
// regions is copied into both (each reads the 64-element vector, not a 256x64 materialised
// broadcast, and the broadcast's own kernel disappears); a transpose of a small matrix feeding a
// matmul becomes an operand view in the matmul region's prologue.

// CHECK:      fusion.region "fusion_0" kind "matmul"(%v, %x, %w)
// CHECK-NEXT: ^bb0(%[[V:.*]]: tensor<64xf32>, %[[X:.*]]: tensor<256x64xf32>, %[[W:.*]]: tensor<64x64xf32>):
// CHECK-NEXT:   %[[B:.*]] = graph.broadcast_to %[[V]] {shape = array<i64: 256, 64>}
// CHECK-NEXT:   %[[MM:.*]] = graph.matmul %[[X]], %[[W]]
// CHECK-NEXT:   graph.add %[[MM]], %[[B]]
// CHECK:      fusion.region "fusion_1" kind "loop"(%v, %x)
// CHECK-NEXT: ^bb0(%[[V2:.*]]: tensor<64xf32>, %[[X2:.*]]: tensor<256x64xf32>):
// CHECK-NEXT:   %[[B2:.*]] = graph.broadcast_to %[[V2]]
// CHECK-NEXT:   %[[M2:.*]] = graph.mul %[[X2]], %[[B2]]
// CHECK-NEXT:   graph.exp %[[M2]]
// CHECK:      fusion.region "fusion_2" kind "matmul"(%k, %q)
// CHECK-NEXT: ^bb0(%[[K:.*]]: tensor<8x16xf32>, %[[Q:.*]]: tensor<8x16xf32>):
// CHECK-NEXT:   %[[KT:.*]] = graph.transpose %[[K]] {perm = array<i64: 1, 0>}
// CHECK-NEXT:   graph.matmul %[[Q]], %[[KT]]
// CHECK-NOT:  graph.broadcast_to
// CHECK-NOT:  graph.transpose

// Only tensors of at most `small-elements` elements are copied: with 64 the 128-element
// transpose stays a kernel of its own, and the matmul reads its result.
// SMALL:      %[[KT:.*]] = graph.transpose %k
// SMALL-NEXT: fusion.region "fusion_2" kind "matmul"(%q, %[[KT]])

func.func @main(%x: tensor<256x64xf32>, %w: tensor<64x64xf32>, %v: tensor<64xf32>, %q: tensor<8x16xf32>, %k: tensor<8x16xf32>) -> (tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x8xf32>) {
  %bv = graph.broadcast_to %v {shape = array<i64: 256, 64>} : (tensor<64xf32>) -> tensor<256x64xf32>
  %0 = graph.matmul %x, %w : (tensor<256x64xf32>, tensor<64x64xf32>) -> tensor<256x64xf32>
  %1 = graph.add %0, %bv : (tensor<256x64xf32>, tensor<256x64xf32>) -> tensor<256x64xf32>
  %2 = graph.mul %x, %bv : (tensor<256x64xf32>, tensor<256x64xf32>) -> tensor<256x64xf32>
  %3 = graph.exp %2 : (tensor<256x64xf32>) -> tensor<256x64xf32>
  %kt = graph.transpose %k {perm = array<i64: 1, 0>} : (tensor<8x16xf32>) -> tensor<16x8xf32>
  %4 = graph.matmul %q, %kt : (tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<8x8xf32>
  func.return %1, %3, %4 : tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x8xf32>
}
