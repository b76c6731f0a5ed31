// RUN: graphc opt %s -p fuse-pad-into-conv | filecheck %s

// fuse-pad-into-conv: Keras' ZeroPadding2D before a strided convolution is absorbed into the
// convolution's `pads` (top, bottom, left, right), so it costs no kernel and no copy. A pad of the
// channels, or with a non-zero value, is not a convolution padding and stays.

// CHECK:      %[[C1:.*]] = graph.conv2d %x, %w {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 1, 0, 1>, groups = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<3x3x4x4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %[[P2:.*]] = graph.pad %x {{.*}}value = 1.000000e+00
// CHECK-NEXT: graph.conv2d %[[P2]], %w
// CHECK-NEXT: %[[P3:.*]] = graph.pad %x {low = array<i64: 0, 0, 0, 1>
// CHECK-NEXT: graph.conv2d %[[P3]], %w5
// CHECK-NEXT: func.return

func.func @main(%x: tensor<1x8x8x4xf32>, %w: tensor<3x3x4x4xf32>, %w5: tensor<1x1x5x4xf32>) -> (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>, tensor<1x8x8x4xf32>) {
  %p = graph.pad %x {low = array<i64: 0, 0, 0, 0>, high = array<i64: 0, 1, 1, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<1x8x8x4xf32>) -> tensor<1x9x9x4xf32>
  %c = graph.conv2d %p, %w {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x9x9x4xf32>, tensor<3x3x4x4xf32>) -> tensor<1x4x4x4xf32>
  %p1 = graph.pad %x {low = array<i64: 0, 0, 0, 0>, high = array<i64: 0, 1, 1, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 1.0 : f64} : (tensor<1x8x8x4xf32>) -> tensor<1x9x9x4xf32>
  %c1 = graph.conv2d %p1, %w {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x9x9x4xf32>, tensor<3x3x4x4xf32>) -> tensor<1x4x4x4xf32>
  %p2 = graph.pad %x {low = array<i64: 0, 0, 0, 1>, high = array<i64: 0, 0, 0, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x5xf32>
  %c2 = graph.conv2d %p2, %w5 {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x8x8x5xf32>, tensor<1x1x5x4xf32>) -> tensor<1x8x8x4xf32>
  func.return %c, %c1, %c2 : tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>, tensor<1x8x8x4xf32>
}
