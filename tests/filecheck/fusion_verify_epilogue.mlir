// RUN: not graphc opt %s 2>&1 | filecheck %s

// A matmul epilogue runs per output element at the root's index: a transpose (which moves
// elements) cannot be part of it.

// CHECK: graphc: error: {{.*}}: IR does not verify: fusion.region fusion_0 (matmul): graph.transpose cannot be in a matmul epilogue (only elementwise ops and reshapes)

func.func @main(%x: tensor<4x8xf32>, %w: tensor<8x4xf32>) -> tensor<4x4xf32> {
  %r = fusion.region "fusion_0" kind "matmul"(%x, %w) {shape = array<i64: 4, 4>} : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf32> {
  ^bb0(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>):
    %0 = graph.matmul %a, %b : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
    %1 = graph.transpose %0 {perm = array<i64: 1, 0>} : (tensor<4x4xf32>) -> tensor<4x4xf32>
    fusion.yield %1 : tensor<4x4xf32>
  }
  func.return %r : tensor<4x4xf32>
}
