// RUN: graphc opt %s -p fuse-pad-into-conv,fuse-epilogues,fuse-reductions,fuse-producers,fuse-elementwise,fuse-siblings,fuse-remaining | filecheck %s

// The whole fusion pipeline (`FUSION_PIPELINE`) on a MobileNetV2-style tail: ZeroPadding2D + strided
// depthwise conv + batch norm + relu6, a 1x1 projection conv + batch norm + residual add, global
// average pooling, the classifier matmul + bias, and softmax. Five kernels: two convs with their
// epilogues (the pad became conv padding), the pooling reduction, the matmul with its bias, and the
// softmax. Weights stay outside as operands; nothing but constants is left outside regions.

// CHECK:      %[[DW:.*]] = fusion.region "fusion_0" kind "conv"(%x, %dw, %s1, %b1)
// CHECK:        graph.conv2d {{.*}}pads = array<i64: 0, 1, 0, 1>, groups = 8 : i64}
// CHECK-NEXT:   graph.mul
// CHECK-NEXT:   graph.add
// CHECK-NEXT:   graph.relu
// CHECK-NEXT:   graph.min
// CHECK-NEXT:   fusion.yield
// CHECK:      %[[PW:.*]] = fusion.region "fusion_1" kind "conv"(%[[DW]], %pw, %s2, %b2, %res)
// CHECK:        graph.conv2d
// CHECK-NEXT:   graph.mul
// CHECK-NEXT:   graph.add
// CHECK-NEXT:   graph.add
// CHECK-NEXT:   fusion.yield
// CHECK:      %[[POOL:.*]] = fusion.region "fusion_2" kind "reduction"(%[[PW]]) {shape = array<i64: 1, 4, 4, 16>, reduce_axes = array<i64: 1, 2>, sweeps = 1 : i64}
// CHECK:      %[[LOGITS:.*]] = fusion.region "fusion_3" kind "matmul"(%[[POOL]], %fc, %fb)
// CHECK:      %[[PROBS:.*]] = fusion.region "fusion_4" kind "reduction"(%[[LOGITS]]) {shape = array<i64: 1, 10>, reduce_axes = array<i64: 1>, sweeps = 2 : i64}
// CHECK:        fusion.yield
// CHECK-NEXT: }
// CHECK-NEXT: func.return %[[PROBS]]

func.func @main(%x: tensor<1x8x8x8xf32>, %dw: tensor<3x3x1x8xf32>, %s1: tensor<8xf32>, %b1: tensor<8xf32>, %pw: tensor<1x1x8x16xf32>, %s2: tensor<16xf32>, %b2: tensor<16xf32>, %res: tensor<1x4x4x16xf32>, %fc: tensor<16x10xf32>, %fb: tensor<10xf32>) -> tensor<1x10xf32> {
  %p = graph.pad %x {low = array<i64: 0, 0, 0, 0>, high = array<i64: 0, 1, 1, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<1x8x8x8xf32>) -> tensor<1x9x9x8xf32>
  %0 = graph.conv2d %p, %dw {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 8 : i64} : (tensor<1x9x9x8xf32>, tensor<3x3x1x8xf32>) -> tensor<1x4x4x8xf32>
  %1 = graph.mul %0, %s1 : (tensor<1x4x4x8xf32>, tensor<8xf32>) -> tensor<1x4x4x8xf32>
  %2 = graph.add %1, %b1 : (tensor<1x4x4x8xf32>, tensor<8xf32>) -> tensor<1x4x4x8xf32>
  %3 = graph.relu %2 : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  %six = graph.constant {value = dense<6.0> : tensor<f32>} : tensor<f32>
  %4 = graph.min %3, %six : (tensor<1x4x4x8xf32>, tensor<f32>) -> tensor<1x4x4x8xf32>
  %5 = graph.conv2d %4, %pw {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x8xf32>, tensor<1x1x8x16xf32>) -> tensor<1x4x4x16xf32>
  %6 = graph.mul %5, %s2 : (tensor<1x4x4x16xf32>, tensor<16xf32>) -> tensor<1x4x4x16xf32>
  %7 = graph.add %6, %b2 : (tensor<1x4x4x16xf32>, tensor<16xf32>) -> tensor<1x4x4x16xf32>
  %8 = graph.add %7, %res : (tensor<1x4x4x16xf32>, tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
  %9 = graph.reduce_mean %8 {axes = array<i64: 1, 2>, keepdims = 0 : i64} : (tensor<1x4x4x16xf32>) -> tensor<1x16xf32>
  %10 = graph.matmul %9, %fc : (tensor<1x16xf32>, tensor<16x10xf32>) -> tensor<1x10xf32>
  %11 = graph.add %10, %fb : (tensor<1x10xf32>, tensor<10xf32>) -> tensor<1x10xf32>
  %12 = graph.reduce_max %11 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<1x10xf32>) -> tensor<1x1xf32>
  %13 = graph.sub %11, %12 : (tensor<1x10xf32>, tensor<1x1xf32>) -> tensor<1x10xf32>
  %14 = graph.exp %13 : (tensor<1x10xf32>) -> tensor<1x10xf32>
  %15 = graph.reduce_sum %14 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<1x10xf32>) -> tensor<1x1xf32>
  %16 = graph.div %14, %15 : (tensor<1x10xf32>, tensor<1x1xf32>) -> tensor<1x10xf32>
  func.return %16 : tensor<1x10xf32>
}
