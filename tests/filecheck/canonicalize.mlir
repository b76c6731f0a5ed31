// RUN: graphc opt %s -p canonicalize-graph,eliminate-dead-code | filecheck %s

// canonicalize-graph: data-movement ops that do nothing disappear (identity transpose, same-shape
// reshape/broadcast/cast, full slice, zero pad, one-input concat); two transposes compose into one,
// two reshapes into one.

// CHECK:      func.func @main(%x: tensor<2x3x4xf32>) -> (tensor<2x12xf32>, tensor<4x2x3xf32>, tensor<2x3x4xf32>)
// CHECK-NEXT:   %[[R:.*]] = graph.reshape %x {shape = array<i64: 2, 12>}
// CHECK-NEXT:   %[[T:.*]] = graph.transpose %x {perm = array<i64: 2, 0, 1>}
// CHECK-NEXT:   func.return %[[R]], %[[T]], %x

func.func @main(%x: tensor<2x3x4xf32>) -> (tensor<2x12xf32>, tensor<4x2x3xf32>, tensor<2x3x4xf32>) {
  %0 = graph.reshape %x {shape = array<i64: 6, 4>} : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
  %1 = graph.reshape %0 {shape = array<i64: 2, 12>} : (tensor<6x4xf32>) -> tensor<2x12xf32>
  %2 = graph.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %3 = graph.transpose %2 {perm = array<i64: 1, 0, 2>} : (tensor<2x4x3xf32>) -> tensor<4x2x3xf32>
  %4 = graph.transpose %x {perm = array<i64: 0, 1, 2>} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %5 = graph.slice %4 {starts = array<i64: 0, 0, 0>, limits = array<i64: 2, 3, 4>, strides = array<i64: 1, 1, 1>} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %6 = graph.pad %5 {low = array<i64: 0, 0, 0>, high = array<i64: 0, 0, 0>, interior = array<i64: 0, 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %7 = graph.concat %6 {axis = 0 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %8 = graph.cast %7 {to = f32} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  func.return %1, %3, %8 : tensor<2x12xf32>, tensor<4x2x3xf32>, tensor<2x3x4xf32>
}
