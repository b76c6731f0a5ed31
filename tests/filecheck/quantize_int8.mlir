// RUN: graphc opt %s -p quantize-int8,fold-qdq,eliminate-dead-code | filecheck %s

// Calibrated float layers (ranges as `calibrate` writes them) become int8: conv + bias + relu is
// quant.conv2d (per-channel weights, i32 bias) + quant.requantize with the relu clamp [zp, 127];
// the max-pool inherits its input's range, so fold-qdq runs it on int8 and the dequantize/quantize
// pair between the two convolutions disappears; the last layer dequantizes at the model's edge.

// CHECK:      func.func @main(%x: tensor<1x4x4x2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:   %[[XQ:.*]] = quant.quantize %x {scale = array<f32: 0.0156862754>, zero_point = array<i64: 0>} : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xi8>
// CHECK-NEXT:   %[[W:.*]] = graph.constant {value = dense<{{\[\[\[\[}}64, -127], [127, 64]]]]> : tensor<1x1x2x2xi8>}
// CHECK-NEXT:   %[[B:.*]] = graph.constant {value = dense<[810, -6477]> : tensor<2xi32>}
// CHECK-NEXT:   %[[ACC:.*]] = quant.conv2d %[[XQ]], %[[W]], %[[B]] {input_zero_point = 0 : i64, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64}
// CHECK-NEXT:   %[[YQ:.*]] = quant.requantize %[[ACC]] {multiplier = array<i64: 1492684831, 1492684831>, shift = array<i64: -6, -8>, scale = array<f64: 0.010860711558487626, 0.0027151778896219066>, output_zero_point = -128 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64, axis = 3 : i64}
// CHECK-NEXT:   %[[P:.*]] = graph.max_pool %[[YQ]] {{.*}} : (tensor<1x4x4x2xi8>) -> tensor<1x2x2x2xi8>
// CHECK-NEXT:   %[[W2:.*]] = graph.constant {value = dense<{{\[\[\[\[}}127, -127], [64, 95]]]]> : tensor<1x1x2x2xi8>}
// CHECK-NEXT:   %[[ACC2:.*]] = quant.conv2d %[[P]], %[[W2]] {input_zero_point = -128 : i64
// CHECK-NEXT:   %[[Y2:.*]] = quant.requantize %[[ACC2]] {multiplier = array<i64: 2092246568>, shift = array<i64: -8>, scale = array<f64: 0.0038057743367589897>, output_zero_point = -43 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64}
// CHECK-NEXT:   %[[Y:.*]] = quant.dequantize %[[Y2]] {scale = array<f32: 0.0235294122>, zero_point = array<i64: -43>
// CHECK-NEXT:   func.return %[[Y]] : tensor<1x2x2x2xf32>

func.func @main(%x: tensor<1x4x4x2xf32>) -> tensor<1x2x2x2xf32> attributes {quant.arg_ranges = [array<f64: -2.0, 2.0>]} {
  %w = graph.constant {value = dense<[[[[0.5, -0.25], [1.0, 0.125]]]]> : tensor<1x1x2x2xf32>} : tensor<1x1x2x2xf32>
  %c = graph.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64, quant.range = array<f64: -3.0, 3.0>} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %b = graph.constant {value = dense<[0.1, -0.2]> : tensor<2xf32>} : tensor<2xf32>
  %a = graph.add %c, %b {quant.range = array<f64: -3.1, 2.9>} : (tensor<1x4x4x2xf32>, tensor<2xf32>) -> tensor<1x4x4x2xf32>
  %r = graph.relu %a {quant.range = array<f64: 0.0, 2.9>} : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %p = graph.max_pool %r {window = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, quant.range = array<f64: 0.0, 2.5>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x2x2xf32>
  %w2 = graph.constant {value = dense<[[[[1.0, -1.0], [0.5, 0.75]]]]> : tensor<1x1x2x2xf32>} : tensor<1x1x2x2xf32>
  %y = graph.conv2d %p, %w2 {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64, quant.range = array<f64: -2.0, 4.0>} : (tensor<1x2x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x2x2x2xf32>
  func.return %y : tensor<1x2x2x2xf32>
}
