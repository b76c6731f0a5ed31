// RUN: graphc opt %s -p recognize-qdq | filecheck %s
// RUN: graphc opt %s -p recognize-qdq | graphc opt - | filecheck %s

// recognize-qdq: dequantize → conv2d/matmul (→ bias → activation) → quantize becomes an int8 layer.

// An ONNX QDQ convolution in NCHW: the transposes move to the int8 side (the filter's per-channel
// axis 0 follows its transpose to axis 3), the int32 bias stored at s_x·s_w is used as is, relu
// becomes the clamp [zero point, 127], and the multipliers are s_x·s_w[c]/s_y (0.5·[0.01, 0.02]/0.1,
// in float32 as onnxruntime computes them).
// CHECK-LABEL: func.func @conv
// CHECK:       %[[XT:.*]] = graph.transpose %xq {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xi8>) -> tensor<1x4x4x2xi8>
// CHECK:       %[[WT:.*]] = graph.transpose %{{.*}} {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x2x3x3xi8>) -> tensor<3x3x2x2xi8>
// CHECK:       %[[B:.*]] = graph.constant {value = dense<[100, -7]> : tensor<2xi32>}
// CHECK-NEXT:  %[[ACC:.*]] = quant.conv2d %[[XT]], %[[WT]], %[[B]] {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, groups = 1 : i64, input_zero_point = 3 : i64}
// CHECK-NEXT:  %[[Y:.*]] = quant.requantize %[[ACC]] {multiplier = array<i64: 1717986816, 1717986816>, shift = array<i64: -4, -3>, scale = array<f64: 0.0499{{[0-9]*}}, 0.0999{{[0-9]*}}>, output_zero_point = -10 : i64, clamp_min = -10 : i64, clamp_max = 127 : i64, axis = 3 : i64}
// CHECK-NEXT:  %[[YT:.*]] = graph.transpose %[[Y]] {perm = array<i64: 0, 3, 1, 2>}
// CHECK-NEXT:  func.return %[[YT]]
func.func @conv(%xq: tensor<1x2x4x4xi8>) -> tensor<1x2x4x4xi8> {
  %w = graph.constant {value = dense<[[[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[-1, -2, -3], [-4, -5, -6], [-7, -8, -9]]], [[[9, 8, 7], [6, 5, 4], [3, 2, 1]], [[0, 1, 0], [1, 0, 1], [0, 1, 0]]]]> : tensor<2x2x3x3xi8>} : tensor<2x2x3x3xi8>
  %b = graph.constant {value = dense<[100, -7]> : tensor<2xi32>} : tensor<2xi32>
  %x = quant.dequantize %xq {scale = array<f32: 0.5>, zero_point = array<i64: 3>} : (tensor<1x2x4x4xi8>) -> tensor<1x2x4x4xf32>
  %wf = quant.dequantize %w {scale = array<f32: 0.01, 0.02>, zero_point = array<i64: 0, 0>, axis = 0 : i64} : (tensor<2x2x3x3xi8>) -> tensor<2x2x3x3xf32>
  %bf = quant.dequantize %b {scale = array<f32: 0.005, 0.01>, zero_point = array<i64: 0, 0>, axis = 0 : i64} : (tensor<2xi32>) -> tensor<2xf32>
  %xt = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %wt = graph.transpose %wf {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x2x3x3xf32>) -> tensor<3x3x2x2xf32>
  %c = graph.conv2d %xt, %wt {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<3x3x2x2xf32>) -> tensor<1x4x4x2xf32>
  %cb = graph.add %c, %bf : (tensor<1x4x4x2xf32>, tensor<2xf32>) -> tensor<1x4x4x2xf32>
  %r = graph.relu %cb : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %rt = graph.transpose %r {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %y = quant.quantize %rt {scale = array<f32: 0.1>, zero_point = array<i64: -10>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xi8>
  func.return %y : tensor<1x2x4x4xi8>
}

// A TensorFlow fake-quantized dense layer: the float bias is rounded to int32 at s_x·s_w
// (0.25 / (0.5·0.25) = 2, -1 / 0.125 = -8), relu6 (max 0, min 6) is the clamp
// [q(0), q(6)] = [-1 + 0, -1 + 60] at s_y = 0.1.
// CHECK-LABEL: func.func @dense
// CHECK:       %[[B:.*]] = graph.constant {value = dense<[2, -8, 0]> : tensor<3xi32>}
// CHECK-NEXT:  %[[ACC:.*]] = quant.matmul %aq, %{{.*}}, %[[B]] {a_zero_point = 4 : i64, b_zero_point = 0 : i64}
// CHECK-NEXT:  %[[Y:.*]] = quant.requantize %[[ACC]] {{{.*}}output_zero_point = -1 : i64, clamp_min = -1 : i64, clamp_max = 59 : i64}
// CHECK-NEXT:  func.return %[[Y]]
func.func @dense(%aq: tensor<2x4xi8>) -> tensor<2x3xi8> {
  %w = graph.constant {value = dense<[[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]> : tensor<4x3xi8>} : tensor<4x3xi8>
  %b = graph.constant {value = dense<[0.25, -1.0, 0.0]> : tensor<3xf32>} : tensor<3xf32>
  %zero = graph.constant {value = dense<0.0> : tensor<f32>} : tensor<f32>
  %six = graph.constant {value = dense<6.0> : tensor<f32>} : tensor<f32>
  %a = quant.dequantize %aq {scale = array<f32: 0.5>, zero_point = array<i64: 4>} : (tensor<2x4xi8>) -> tensor<2x4xf32>
  %wf = quant.dequantize %w {scale = array<f32: 0.25>, zero_point = array<i64: 0>} : (tensor<4x3xi8>) -> tensor<4x3xf32>
  %m = graph.matmul %a, %wf : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %mb = graph.add %m, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %lo = graph.max %mb, %zero : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %hi = graph.min %lo, %six : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %y = quant.quantize %hi {scale = array<f32: 0.1>, zero_point = array<i64: -1>} : (tensor<2x3xf32>) -> tensor<2x3xi8>
  func.return %y : tensor<2x3xi8>
}

// Not a layer: the float result has a second use, so the float convolution stays (and so do the
// quantize/dequantize ops around it).
// CHECK-LABEL: func.func @shared
// CHECK:       graph.matmul
// CHECK:       quant.quantize
// CHECK-NOT:   quant.matmul
func.func @shared(%aq: tensor<2x4xi8>) -> (tensor<2x3xi8>, tensor<2x3xf32>) {
  %w = graph.constant {value = dense<1> : tensor<4x3xi8>} : tensor<4x3xi8>
  %a = quant.dequantize %aq {scale = array<f32: 0.5>, zero_point = array<i64: 4>} : (tensor<2x4xi8>) -> tensor<2x4xf32>
  %wf = quant.dequantize %w {scale = array<f32: 0.25>, zero_point = array<i64: 0>} : (tensor<4x3xi8>) -> tensor<4x3xf32>
  %m = graph.matmul %a, %wf : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %y = quant.quantize %m {scale = array<f32: 0.1>, zero_point = array<i64: -1>} : (tensor<2x3xf32>) -> tensor<2x3xi8>
  func.return %y, %m : tensor<2x3xi8>, tensor<2x3xf32>
}
