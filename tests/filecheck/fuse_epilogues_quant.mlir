// RUN: graphc opt %s -p fuse-epilogues,fuse-elementwise,fuse-remaining | filecheck %s

// A quantized layer — quant.conv2d, its per-channel quant.requantize (relu clamp), the dequantize
// at the model's edge — is one `conv` region (root quant.conv2d, integer epilogue); the input's
// quant.quantize is an elementwise op in a `loop` region. Likewise for quant.matmul.

// CHECK:      %[[XQ:.*]] = fusion.region "fusion_0" kind "loop"(%x) {shape = array<i64: 1, 6, 6, 3>}
// CHECK:        quant.quantize
// CHECK:      %[[Y:.*]] = fusion.region "fusion_1" kind "conv"(%[[XQ]], %w, %b) {shape = array<i64: 1, 6, 6, 4>}
// CHECK-NEXT: ^bb0(
// CHECK-NEXT:   %[[ACC:.*]] = quant.conv2d
// CHECK-NEXT:   %[[R:.*]] = quant.requantize %[[ACC]] {{.*}}clamp_min = -128 : i64, clamp_max = 127 : i64, axis = 3 : i64}
// CHECK-NEXT:   %[[D:.*]] = quant.dequantize %[[R]] {scale = array<f32: 5.000000e-02>, zero_point = array<i64: -128>}
// CHECK-NEXT:   fusion.yield %[[D]] : tensor<1x6x6x4xf32>
// CHECK:      fusion.region "fusion_2" kind "matmul"(%a, %bm, %bias) {shape = array<i64: 3, 5>}
// CHECK-NEXT: ^bb0(
// CHECK-NEXT:   quant.matmul
// CHECK-NEXT:   quant.requantize
// CHECK-NEXT:   fusion.yield

func.func @main(%x: tensor<1x6x6x3xf32>, %w: tensor<3x3x3x4xi8>, %b: tensor<4xi32>, %a: tensor<3x8xi8>, %bm: tensor<8x5xi8>, %bias: tensor<5xi32>) -> (tensor<1x6x6x4xf32>, tensor<3x5xi8>) {
  %xq = quant.quantize %x {scale = array<f32: 0.02>, zero_point = array<i64: -3>} : (tensor<1x6x6x3xf32>) -> tensor<1x6x6x3xi8>
  %acc = quant.conv2d %xq, %w, %b {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, groups = 1 : i64, input_zero_point = -3 : i64} : (tensor<1x6x6x3xi8>, tensor<3x3x3x4xi8>, tensor<4xi32>) -> tensor<1x6x6x4xi32>
  %yq = quant.requantize %acc {multiplier = array<i64: 1717986918, 1073741824, 1073741824, 1610612736>, shift = array<i64: -3, 0, 1, 0>, scale = array<f64: 0.1, 0.5, 1.0, 0.75>, output_zero_point = -128 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64, axis = 3 : i64} : (tensor<1x6x6x4xi32>) -> tensor<1x6x6x4xi8>
  %y = quant.dequantize %yq {scale = array<f32: 0.05>, zero_point = array<i64: -128>} : (tensor<1x6x6x4xi8>) -> tensor<1x6x6x4xf32>
  %m = quant.matmul %a, %bm, %bias {a_zero_point = 5 : i64, b_zero_point = 0 : i64} : (tensor<3x8xi8>, tensor<8x5xi8>, tensor<5xi32>) -> tensor<3x5xi32>
  %mq = quant.requantize %m {multiplier = array<i64: 1717986918>, shift = array<i64: -3>, scale = array<f64: 0.1>, output_zero_point = 4 : i64, clamp_min = 4 : i64, clamp_max = 127 : i64} : (tensor<3x5xi32>) -> tensor<3x5xi8>
  func.return %y, %mq : tensor<1x6x6x4xf32>, tensor<3x5xi8>
}
