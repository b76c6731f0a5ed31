// RUN: graphc opt %s -p optimize-layout | filecheck %s

// optimize-layout through the quant dialect: an NCHW int8 chain in the form recognize-qdq leaves an
// ONNX QDQ model (transpose → quant.conv2d → requantize → transpose back), with a per-channel
// dequantize → quantize in NCHW (axis 1) between the two layers. quantize/dequantize/requantize
// are element-wise, so the inner transposes cancel and the per-channel ops run in NHWC with their
// axis renamed to 3.

// CHECK:      func.func @main(%x: tensor<1x2x4x4xi8>) -> tensor<1x2x4x4xi8> attributes {graphc.layout = {transposes_before = 4 : i64, transposes_after = 2 : i64}}
// CHECK:        %[[IN:.*]] = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:   %[[C1:.*]] = quant.conv2d %[[IN]], %{{.*}} {{{.*}}input_zero_point = 3 : i64}
// CHECK-NEXT:   %[[R:.*]] = quant.requantize %[[C1]]
// CHECK-NEXT:   %[[D:.*]] = quant.dequantize %[[R]] {scale = array<f32: 1.000000e-01, 2.000000e-01>, zero_point = array<i64: 0, 5>, axis = 3 : i64} : (tensor<1x4x4x2xi8>) -> tensor<1x4x4x2xf32>
// CHECK-NEXT:   %[[Q:.*]] = quant.quantize %[[D]] {scale = array<f32: 3.000000e-01, 4.000000e-01>, zero_point = array<i64: 1, -1>, axis = 3 : i64} : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xi8>
// CHECK-NEXT:   %[[C2:.*]] = quant.conv2d %[[Q]], %{{.*}} {{{.*}}input_zero_point = -128 : i64}
// CHECK-NEXT:   %[[R2:.*]] = quant.requantize %[[C2]]
// CHECK-NEXT:   %[[OUT:.*]] = graph.transpose %[[R2]] {perm = array<i64: 0, 3, 1, 2>}
// CHECK-NEXT:   func.return %[[OUT]]

func.func @main(%x: tensor<1x2x4x4xi8>) -> tensor<1x2x4x4xi8> {
  %w = graph.constant {value = dense<1> : tensor<1x1x2x2xi8>} : tensor<1x1x2x2xi8>
  %xt = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xi8>) -> tensor<1x4x4x2xi8>
  %c1 = quant.conv2d %xt, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64, input_zero_point = 3 : i64} : (tensor<1x4x4x2xi8>, tensor<1x1x2x2xi8>) -> tensor<1x4x4x2xi32>
  %r1 = quant.requantize %c1 {multiplier = array<i64: 1073741824>, shift = array<i64: 0>, scale = array<f64: 0.5>, output_zero_point = -128 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64} : (tensor<1x4x4x2xi32>) -> tensor<1x4x4x2xi8>
  %y1 = graph.transpose %r1 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xi8>) -> tensor<1x2x4x4xi8>
  %d = quant.dequantize %y1 {scale = array<f32: 0.1, 0.2>, zero_point = array<i64: 0, 5>, axis = 1 : i64} : (tensor<1x2x4x4xi8>) -> tensor<1x2x4x4xf32>
  %q = quant.quantize %d {scale = array<f32: 0.3, 0.4>, zero_point = array<i64: 1, -1>, axis = 1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xi8>
  %x2 = graph.transpose %q {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xi8>) -> tensor<1x4x4x2xi8>
  %c2 = quant.conv2d %x2, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64, input_zero_point = -128 : i64} : (tensor<1x4x4x2xi8>, tensor<1x1x2x2xi8>) -> tensor<1x4x4x2xi32>
  %r2 = quant.requantize %c2 {multiplier = array<i64: 1073741824>, shift = array<i64: 0>, scale = array<f64: 0.5>, output_zero_point = 0 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64} : (tensor<1x4x4x2xi32>) -> tensor<1x4x4x2xi8>
  %y2 = graph.transpose %r2 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xi8>) -> tensor<1x2x4x4xi8>
  func.return %y2 : tensor<1x2x4x4xi8>
}
