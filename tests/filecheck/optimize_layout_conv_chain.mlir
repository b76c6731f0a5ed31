// RUN: graphc opt %s -p optimize-layout | filecheck %s

// optimize-layout on an NCHW conv → bias → relu → conv chain in the form an ONNX importer emits:
// each convolution is wrapped as transpose(0,2,3,1) → NHWC conv → transpose(0,3,1,2), its filter
// is a transposed OIHW constant, and the per-channel bias (1xCx1x1) is added in NCHW. After the
// pass the chain runs in NHWC: the filter transposes are folded into HWIO constants (OIHW [o][i]
// = [[1,2],[3,4]] becomes HWIO [i][o] = [[1,3],[2,4]]), the bias constant becomes 1x1x1xC, the two
// inner transposes are gone, and only the model boundary converts (the NCHW input, once, and the
// NCHW output).

// CHECK:      func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> attributes {graphc.layout = {transposes_before = 4 : i64, transposes_after = 2 : i64}}
// CHECK-NEXT:   %[[F:.*]] = graph.constant {value = dense<{{\[\[\[\[}}1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]]]> : tensor<1x1x2x2xf32>}
// CHECK-NEXT:   %[[IN:.*]] = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
// CHECK-NEXT:   %[[C1:.*]] = graph.conv2d %[[IN]], %[[F]]
// CHECK-NEXT:   %[[B:.*]] = graph.constant {value = dense<{{\[\[\[\[}}5.000000e-01, -5.000000e-01]]]]> : tensor<1x1x1x2xf32>}
// CHECK-NEXT:   %[[A:.*]] = graph.add %[[C1]], %[[B]] : (tensor<1x4x4x2xf32>, tensor<1x1x1x2xf32>) -> tensor<1x4x4x2xf32>
// CHECK-NEXT:   %[[R:.*]] = graph.relu %[[A]] : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
// CHECK-NEXT:   %[[C2:.*]] = graph.conv2d %[[R]], %[[F]]
// CHECK-NEXT:   %[[OUT:.*]] = graph.transpose %[[C2]] {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
// CHECK-NEXT:   func.return %[[OUT]]

// A rank-3 (C, 1, 1) constant broadcasts against NCHW; in NHWC it becomes (1, 1, C), and the
// transpose back to NHWC at the end cancels with the conv's transpose to NCHW.
// CHECK:      func.func @rank3_bias(%x: tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32> attributes {graphc.layout = {transposes_before = 3 : i64, transposes_after = 1 : i64}}
// CHECK:        %[[IN:.*]] = graph.transpose %x
// CHECK-NEXT:   %[[C:.*]] = graph.conv2d %[[IN]]
// CHECK-NEXT:   %[[B:.*]] = graph.constant {value = dense<{{\[\[\[}}5.000000e-01, -5.000000e-01]]]> : tensor<1x1x2xf32>}
// CHECK-NEXT:   %[[M:.*]] = graph.mul %[[C]], %[[B]] : (tensor<1x4x4x2xf32>, tensor<1x1x2xf32>) -> tensor<1x4x4x2xf32>
// CHECK-NEXT:   func.return %[[M]]

func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w1 = graph.constant {value = dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>} : tensor<2x2x1x1xf32>
  %f1 = graph.transpose %w1 {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x2x1x1xf32>) -> tensor<1x1x2x2xf32>
  %0 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %1 = graph.conv2d %0, %f1 {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %2 = graph.transpose %1 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %b = graph.constant {value = dense<[[[[0.5]], [[-0.5]]]]> : tensor<1x2x1x1xf32>} : tensor<1x2x1x1xf32>
  %3 = graph.add %2, %b : (tensor<1x2x4x4xf32>, tensor<1x2x1x1xf32>) -> tensor<1x2x4x4xf32>
  %4 = graph.relu %3 : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %5 = graph.transpose %4 {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %6 = graph.conv2d %5, %f1 {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %7 = graph.transpose %6 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  func.return %7 : tensor<1x2x4x4xf32>
}

func.func @rank3_bias(%x: tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32> {
  %f = graph.constant {value = dense<[[[[1.0, 3.0], [2.0, 4.0]]]]> : tensor<1x1x2x2xf32>} : tensor<1x1x2x2xf32>
  %0 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %1 = graph.conv2d %0, %f {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %2 = graph.transpose %1 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %b = graph.constant {value = dense<[[[0.5]], [[-0.5]]]> : tensor<2x1x1xf32>} : tensor<2x1x1xf32>
  %3 = graph.mul %2, %b : (tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) -> tensor<1x2x4x4xf32>
  %4 = graph.transpose %3 {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  func.return %4 : tensor<1x4x4x2xf32>
}
