// RUN: graphc opt %s -p optimize-layout | filecheck %s

// optimize-layout on an NCHW network's tail: a pad in NCHW between two convolutions, then the
// classifier head as ONNX exports it (GlobalAveragePool as reduce_mean over axes 2,3, Flatten,
// MatMul). The pad's per-axis amounts and the reduction's axes are renamed to NHWC, and the
// flatten of the 1x1 map reads the NHWC data directly (1x1x1xC and 1xCx1x1 hold their elements in
// the same order). Only the input keeps its transpose.

// CHECK:      func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x3xf32> attributes {graphc.layout = {transposes_before = 4 : i64, transposes_after = 1 : i64}}
// CHECK:        %[[IN:.*]] = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:   %[[C1:.*]] = graph.conv2d %[[IN]]
// CHECK-NEXT:   %[[P:.*]] = graph.pad %[[C1]] {low = array<i64: 0, 1, 2, 0>, high = array<i64: 0, 1, 0, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 0.000000e+00 : f64} : (tensor<1x4x4x2xf32>) -> tensor<1x6x6x2xf32>
// CHECK-NEXT:   %[[C2:.*]] = graph.conv2d %[[P]]
// CHECK-NEXT:   %[[GAP:.*]] = graph.reduce_mean %[[C2]] {axes = array<i64: 1, 2>, keepdims = 1 : i64} : (tensor<1x3x3x2xf32>) -> tensor<1x1x1x2xf32>
// CHECK-NEXT:   %[[FLAT:.*]] = graph.reshape %[[GAP]] {shape = array<i64: 1, 2>} : (tensor<1x1x1x2xf32>) -> tensor<1x2xf32>
// CHECK-NOT:    graph.transpose
// CHECK:        graph.matmul %[[FLAT]]

// A reduction without keepdims leaves (N, C) in the same order from NHWC as from NCHW.
// CHECK:      func.func @without_keepdims(
// CHECK:        graph.transpose %x
// CHECK-NEXT:   %[[C:.*]] = graph.conv2d
// CHECK-NEXT:   %[[R:.*]] = graph.relu %[[C]] : (tensor<1x4x4x2xf32>)
// CHECK-NEXT:   %[[M:.*]] = graph.reduce_mean %[[R]] {axes = array<i64: 1, 2>, keepdims = 0 : i64} : (tensor<1x4x4x2xf32>) -> tensor<1x2xf32>
// CHECK-NOT:    graph.transpose
// CHECK:        graph.matmul %[[M]]

func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x3xf32> {
  %w = graph.constant {value = dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>} : tensor<2x2x1x1xf32>
  %f = graph.transpose %w {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x2x1x1xf32>) -> tensor<1x1x2x2xf32>
  %0 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %1 = graph.conv2d %0, %f {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %2 = graph.transpose %1 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %p = graph.pad %2 {low = array<i64: 0, 0, 1, 2>, high = array<i64: 0, 0, 1, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x6x6xf32>
  %3 = graph.transpose %p {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x6x6xf32>) -> tensor<1x6x6x2xf32>
  %4 = graph.conv2d %3, %f {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x6x6x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x3x3x2xf32>
  %5 = graph.transpose %4 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x3x3x2xf32>) -> tensor<1x2x3x3xf32>
  %gap = graph.reduce_mean %5 {axes = array<i64: 2, 3>, keepdims = 1 : i64} : (tensor<1x2x3x3xf32>) -> tensor<1x2x1x1xf32>
  %flat = graph.reshape %gap {shape = array<i64: 1, 2>} : (tensor<1x2x1x1xf32>) -> tensor<1x2xf32>
  %dense = graph.constant {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>} : tensor<2x3xf32>
  %y = graph.matmul %flat, %dense : (tensor<1x2xf32>, tensor<2x3xf32>) -> tensor<1x3xf32>
  func.return %y : tensor<1x3xf32>
}

func.func @without_keepdims(%x: tensor<1x2x4x4xf32>) -> tensor<1x3xf32> {
  %w = graph.constant {value = dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>} : tensor<2x2x1x1xf32>
  %f = graph.transpose %w {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x2x1x1xf32>) -> tensor<1x1x2x2xf32>
  %0 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %1 = graph.conv2d %0, %f {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %2 = graph.transpose %1 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %3 = graph.relu %2 : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %gap = graph.reduce_mean %3 {axes = array<i64: 2, 3>, keepdims = 0 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2xf32>
  %dense = graph.constant {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>} : tensor<2x3xf32>
  %y = graph.matmul %gap, %dense : (tensor<1x2xf32>, tensor<2x3xf32>) -> tensor<1x3xf32>
  func.return %y : tensor<1x3xf32>
}
