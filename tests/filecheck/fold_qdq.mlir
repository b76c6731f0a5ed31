// RUN: graphc opt %s -p fold-qdq,eliminate-dead-code | filecheck %s

// Q/DQ pairs fold: identical parameters vanish (through a reshape, a zero pad — which pads with
// the zero point — and a concat of equal parameters, all run on int8); different parameters become
// one integer rescale; a dequantize that also feeds a float op stays for that op.

// CHECK:      func.func @main(%a: tensor<1x2x2x4xi8>, %b: tensor<1x2x2x4xi8>)
// CHECK-NEXT:   %[[D:.*]] = quant.dequantize %b
// CHECK-NEXT:   %[[P:.*]] = graph.pad %a {low = array<i64: 0, 1, 1, 0>, high = array<i64: 0, 1, 1, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 5.000000e+00 : f64} : (tensor<1x2x2x4xi8>) -> tensor<1x4x4x4xi8>
// CHECK-NEXT:   %[[R:.*]] = graph.reshape %[[P]] {shape = array<i64: 4, 16>} : (tensor<1x4x4x4xi8>) -> tensor<4x16xi8>
// CHECK-NEXT:   %[[C:.*]] = graph.concat %a, %b {axis = 3 : i64} : (tensor<1x2x2x4xi8>, tensor<1x2x2x4xi8>) -> tensor<1x2x2x8xi8>
// CHECK-NEXT:   %[[W:.*]] = graph.cast %b {to = i32} : (tensor<1x2x2x4xi8>) -> tensor<1x2x2x4xi32>
// CHECK-NEXT:   %[[Z:.*]] = graph.constant {value = dense<5> : tensor<i32>} : tensor<i32>
// CHECK-NEXT:   %[[S:.*]] = graph.sub %[[W]], %[[Z]]
// CHECK-NEXT:   %[[RQ:.*]] = quant.requantize %[[S]] {multiplier = array<i64: 1073741824>, shift = array<i64: 0>, scale = array<f64: 5.000000e-01>, output_zero_point = -1 : i64, clamp_min = -128 : i64, clamp_max = 127 : i64}
// CHECK-NEXT:   %[[E:.*]] = graph.exp %[[D]]
// CHECK-NEXT:   func.return %[[R]], %[[C]], %[[RQ]], %[[E]]

func.func @main(%a: tensor<1x2x2x4xi8>, %b: tensor<1x2x2x4xi8>) -> (tensor<4x16xi8>, tensor<1x2x2x8xi8>, tensor<1x2x2x4xi8>, tensor<1x2x2x4xf32>) {
  %da = quant.dequantize %a {scale = array<f32: 0.25>, zero_point = array<i64: 5>} : (tensor<1x2x2x4xi8>) -> tensor<1x2x2x4xf32>
  %db = quant.dequantize %b {scale = array<f32: 0.25>, zero_point = array<i64: 5>} : (tensor<1x2x2x4xi8>) -> tensor<1x2x2x4xf32>
  %p = graph.pad %da {low = array<i64: 0, 1, 1, 0>, high = array<i64: 0, 1, 1, 0>, interior = array<i64: 0, 0, 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<1x2x2x4xf32>) -> tensor<1x4x4x4xf32>
  %r = graph.reshape %p {shape = array<i64: 4, 16>} : (tensor<1x4x4x4xf32>) -> tensor<4x16xf32>
  %rq = quant.quantize %r {scale = array<f32: 0.25>, zero_point = array<i64: 5>} : (tensor<4x16xf32>) -> tensor<4x16xi8>
  %c = graph.concat %da, %db {axis = 3 : i64} : (tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x2x8xf32>
  %cq = quant.quantize %c {scale = array<f32: 0.25>, zero_point = array<i64: 5>} : (tensor<1x2x2x8xf32>) -> tensor<1x2x2x8xi8>
  %bq = quant.quantize %db {scale = array<f32: 0.5>, zero_point = array<i64: -1>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xi8>
  %e = graph.exp %db : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  func.return %rq, %cq, %bq, %e : tensor<4x16xi8>, tensor<1x2x2x8xi8>, tensor<1x2x2x4xi8>, tensor<1x2x2x4xf32>
}
