// RUN: not graphc opt %s 2>&1 | filecheck %s

// The verifier enforces each kind's template: a loop region holds elemental ops only, so a
// backend's loop template never meets a matmul.

// CHECK: graphc: error: {{.*}}fusion_verify_loop.mlir: IR does not verify: fusion.region fusion_0 (loop): graph.matmul cannot be in a loop region

func.func @main(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %r = fusion.region "fusion_0" kind "loop"(%x) {shape = array<i64: 4, 4>} : (tensor<4x4xf32>) -> tensor<4x4xf32> {
  ^bb0(%a: tensor<4x4xf32>):
    %0 = graph.matmul %a, %a : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    fusion.yield %0 : tensor<4x4xf32>
  }
  func.return %r : tensor<4x4xf32>
}
