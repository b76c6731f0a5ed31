// RUN: graphc opt %s -p fuse-epilogues | filecheck %s

// fuse-epilogues: a convolution with its batch-norm scale/shift, relu6 (relu then min with 6) and a
// residual add becomes one `conv` region: the convolution is the root, the rest its epilogue,
// applied per output element before the store. Per-channel vectors and the residual are operands;
// the scalar 6 is an immediate inside the region.

// CHECK:      %[[R:.*]] = fusion.region "fusion_0" kind "conv"(%x, %w, %scale, %shift, %res) {shape = array<i64: 1, 8, 8, 32>}
// CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<1x8x8x16xf32>, %[[W:.*]]: tensor<3x3x16x32xf32>, %[[SC:.*]]: tensor<32xf32>, %[[SH:.*]]: tensor<32xf32>, %[[RES:.*]]: tensor<1x8x8x32xf32>):
// CHECK-NEXT:   %[[SIX:.*]] = graph.constant {value = dense<6.000000e+00> : tensor<f32>}
// CHECK-NEXT:   %[[C:.*]] = graph.conv2d %[[X]], %[[W]]
// CHECK-NEXT:   %[[M:.*]] = graph.mul %[[C]], %[[SC]]
// CHECK-NEXT:   %[[A:.*]] = graph.add %[[M]], %[[SH]]
// CHECK-NEXT:   %[[RELU:.*]] = graph.relu %[[A]]
// CHECK-NEXT:   %[[MIN:.*]] = graph.min %[[RELU]], %[[SIX]]
// CHECK-NEXT:   %[[OUT:.*]] = graph.add %[[MIN]], %[[RES]]
// CHECK-NEXT:   fusion.yield %[[OUT]] : tensor<1x8x8x32xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %[[R]]

func.func @main(%x: tensor<1x8x8x16xf32>, %w: tensor<3x3x16x32xf32>, %scale: tensor<32xf32>, %shift: tensor<32xf32>, %res: tensor<1x8x8x32xf32>) -> tensor<1x8x8x32xf32> {
  %0 = graph.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, groups = 1 : i64} : (tensor<1x8x8x16xf32>, tensor<3x3x16x32xf32>) -> tensor<1x8x8x32xf32>
  %1 = graph.mul %0, %scale : (tensor<1x8x8x32xf32>, tensor<32xf32>) -> tensor<1x8x8x32xf32>
  %2 = graph.add %1, %shift : (tensor<1x8x8x32xf32>, tensor<32xf32>) -> tensor<1x8x8x32xf32>
  %3 = graph.relu %2 : (tensor<1x8x8x32xf32>) -> tensor<1x8x8x32xf32>
  %six = graph.constant {value = dense<6.0> : tensor<f32>} : tensor<f32>
  %4 = graph.min %3, %six : (tensor<1x8x8x32xf32>, tensor<f32>) -> tensor<1x8x8x32xf32>
  %5 = graph.add %4, %res : (tensor<1x8x8x32xf32>, tensor<1x8x8x32xf32>) -> tensor<1x8x8x32xf32>
  func.return %5 : tensor<1x8x8x32xf32>
}
