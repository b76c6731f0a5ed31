// RUN: graphc opt %s | filecheck %s
// RUN: graphc opt %s | graphc opt - | filecheck %s

// The quant dialect prints and parses back unchanged, with every scale and zero point in the text:
// per-tensor quantize/dequantize, a per-channel requantize with its relu clamp, conv2d with a bias,
// depthwise conv2d without one, a batched matmul with both zero points, an i32 dequantize per axis.

// CHECK:      %[[XQ:.*]] = quant.quantize %x {scale = array<f32: 2.000000e-02>, zero_point = array<i64: -3>} : (tensor<1x6x6x3xf32>) -> tensor<1x6x6x3xi8>
// CHECK-NEXT: %[[ACC:.*]] = quant.conv2d %[[XQ]], %w, %b {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, groups = 1 : i64, input_zero_point = -3 : i64} : (tensor<1x6x6x3xi8>, tensor<3x3x3x4xi8>, tensor<4xi32>) -> tensor<1x6x6x4xi32>
// CHECK-NEXT: %[[YQ:.*]] = quant.requantize %[[ACC]] {multiplier = array<i64: 1717986918, 1073741824, 1073741824, 1610612736>, shift = array<i64: -3, 0, 1, 0>, scale = array<f64: 1.000000e-01, 5.000000e-01, 1.000000e+00, 7.500000e-01>, output_zero_point = -128 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64, axis = 3 : i64} : (tensor<1x6x6x4xi32>) -> tensor<1x6x6x4xi8>
// CHECK-NEXT: %[[DW:.*]] = quant.conv2d %[[YQ]], %dw {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 1, 0, 1>, groups = 4 : i64, input_zero_point = -128 : i64} : (tensor<1x6x6x4xi8>, tensor<3x3x1x4xi8>) -> tensor<1x3x3x4xi32>
// CHECK-NEXT: %[[DQ:.*]] = quant.dequantize %[[DW]] {scale = array<f32: 1.000000e-03, 2.000000e-03, 3.000000e-03, 4.000000e-03>, zero_point = array<i64: 0, 0, 0, 0>, axis = 3 : i64} : (tensor<1x3x3x4xi32>) -> tensor<1x3x3x4xf32>
// CHECK-NEXT: %[[MM:.*]] = quant.matmul %a, %bm {a_zero_point = 5 : i64, b_zero_point = -2 : i64} : (tensor<2x3x8xi8>, tensor<8x5xi8>) -> tensor<2x3x5xi32>
// CHECK-NEXT: %[[MMB:.*]] = quant.matmul %a, %bm, %bias {a_zero_point = 5 : i64, b_zero_point = 0 : i64} : (tensor<2x3x8xi8>, tensor<8x5xi8>, tensor<5xi32>) -> tensor<2x3x5xi32>
// CHECK-NEXT: %[[Y:.*]] = quant.dequantize %[[YQ]] {scale = array<f32: 5.000000e-02>, zero_point = array<i64: -128>} : (tensor<1x6x6x4xi8>) -> tensor<1x6x6x4xf32>
// CHECK-NEXT: func.return %[[Y]], %[[DQ]], %[[MM]], %[[MMB]]

func.func @main(%x: tensor<1x6x6x3xf32>, %w: tensor<3x3x3x4xi8>, %b: tensor<4xi32>, %dw: tensor<3x3x1x4xi8>, %a: tensor<2x3x8xi8>, %bm: tensor<8x5xi8>, %bias: tensor<5xi32>) -> (tensor<1x6x6x4xf32>, tensor<1x3x3x4xf32>, tensor<2x3x5xi32>, tensor<2x3x5xi32>) {
  %xq = quant.quantize %x {scale = array<f32: 0.02>, zero_point = array<i64: -3>} : (tensor<1x6x6x3xf32>) -> tensor<1x6x6x3xi8>
  %acc = quant.conv2d %xq, %w, %b {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, groups = 1 : i64, input_zero_point = -3 : i64} : (tensor<1x6x6x3xi8>, tensor<3x3x3x4xi8>, tensor<4xi32>) -> tensor<1x6x6x4xi32>
  %yq = quant.requantize %acc {multiplier = array<i64: 1717986918, 1073741824, 1073741824, 1610612736>, shift = array<i64: -3, 0, 1, 0>, scale = array<f64: 0.1, 0.5, 1.0, 0.75>, output_zero_point = -128 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64, axis = 3 : i64} : (tensor<1x6x6x4xi32>) -> tensor<1x6x6x4xi8>
  %d = quant.conv2d %yq, %dw {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 1, 0, 1>, groups = 4 : i64, input_zero_point = -128 : i64} : (tensor<1x6x6x4xi8>, tensor<3x3x1x4xi8>) -> tensor<1x3x3x4xi32>
  %dq = quant.dequantize %d {scale = array<f32: 0.001, 0.002, 0.003, 0.004>, zero_point = array<i64: 0, 0, 0, 0>, axis = 3 : i64} : (tensor<1x3x3x4xi32>) -> tensor<1x3x3x4xf32>
  %m = quant.matmul %a, %bm {a_zero_point = 5 : i64, b_zero_point = -2 : i64} : (tensor<2x3x8xi8>, tensor<8x5xi8>) -> tensor<2x3x5xi32>
  %mb = quant.matmul %a, %bm, %bias {a_zero_point = 5 : i64, b_zero_point = 0 : i64} : (tensor<2x3x8xi8>, tensor<8x5xi8>, tensor<5xi32>) -> tensor<2x3x5xi32>
  %y = quant.dequantize %yq {scale = array<f32: 0.05>, zero_point = array<i64: -128>} : (tensor<1x6x6x4xi8>) -> tensor<1x6x6x4xf32>
  func.return %y, %dq, %m, %mb : tensor<1x6x6x4xf32>, tensor<1x3x3x4xf32>, tensor<2x3x5xi32>, tensor<2x3x5xi32>
}
