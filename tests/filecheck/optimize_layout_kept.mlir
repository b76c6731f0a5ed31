// RUN: graphc opt %s -p optimize-layout | filecheck %s

// What optimize-layout must leave as a transpose, and what it must not make worse.

// A flatten of a 2x2 map mixes channels with space: NHWC data flattens to a different order than
// NCHW data, so the conv's transpose back to NCHW stays in front of the reshape (the relu may run in
// either layout at the same cost; the plan keeps the program's own), and the NCHW input keeps its.
// CHECK:      func.func @main(%x: tensor<1x2x2x2xf32>) -> tensor<1x3xf32> attributes {graphc.layout = {transposes_before = 2 : i64, transposes_after = 2 : i64}}
// CHECK:        %[[IN:.*]] = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:   %[[C:.*]] = graph.conv2d %[[IN]]
// CHECK-NEXT:   %[[T:.*]] = graph.transpose %[[C]] {perm = array<i64: 0, 3, 1, 2>}
// CHECK-NEXT:   %[[R:.*]] = graph.relu %[[T]]
// CHECK-NEXT:   %[[FLAT:.*]] = graph.reshape %[[R]] {shape = array<i64: 1, 8>}

// A transpose feeding a matmul is the matmul's business, not a layout question: untouched.
// CHECK:      func.func @matmul_operands(%a: tensor<4x6xf32>, %b: tensor<5x6xf32>)
// CHECK-NEXT:   %[[BT:.*]] = graph.transpose %b {perm = array<i64: 1, 0>}
// CHECK-NEXT:   graph.matmul %a, %[[BT]]

// Two identical transposes of one value become one; a transpose that moves only unit axes keeps
// the elements in memory order and becomes a reshape.
// CHECK:      func.func @shared_and_unit_axes(%x: tensor<2x3x1x1xf32>) -> (tensor<2x1x1x3xf32>, tensor<2x1x1x3xf32>) attributes {graphc.layout = {transposes_before = 2 : i64, transposes_after = 0 : i64}}
// CHECK-NEXT:   %[[V:.*]] = graph.reshape %x {shape = array<i64: 2, 1, 1, 3>}
// CHECK-NEXT:   %[[E:.*]] = graph.exp %[[V]]
// CHECK-NEXT:   func.return %[[V]], %[[E]]

func.func @main(%x: tensor<1x2x2x2xf32>) -> tensor<1x3xf32> {
  %w = graph.constant {value = dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>} : tensor<2x2x1x1xf32>
  %f = graph.transpose %w {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x2x1x1xf32>) -> tensor<1x1x2x2xf32>
  %0 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %1 = graph.conv2d %0, %f {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x2x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x2x2x2xf32>
  %2 = graph.transpose %1 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %3 = graph.relu %2 : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %flat = graph.reshape %3 {shape = array<i64: 1, 8>} : (tensor<1x2x2x2xf32>) -> tensor<1x8xf32>
  %dense = graph.constant {value = dense<0.5> : tensor<8x3xf32>} : tensor<8x3xf32>
  %y = graph.matmul %flat, %dense : (tensor<1x8xf32>, tensor<8x3xf32>) -> tensor<1x3xf32>
  func.return %y : tensor<1x3xf32>
}

func.func @matmul_operands(%a: tensor<4x6xf32>, %b: tensor<5x6xf32>) -> tensor<4x5xf32> {
  %0 = graph.transpose %b {perm = array<i64: 1, 0>} : (tensor<5x6xf32>) -> tensor<6x5xf32>
  %1 = graph.matmul %a, %0 : (tensor<4x6xf32>, tensor<6x5xf32>) -> tensor<4x5xf32>
  func.return %1 : tensor<4x5xf32>
}

func.func @shared_and_unit_axes(%x: tensor<2x3x1x1xf32>) -> (tensor<2x1x1x3xf32>, tensor<2x1x1x3xf32>) {
  %0 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x3x1x1xf32>) -> tensor<2x1x1x3xf32>
  %1 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x3x1x1xf32>) -> tensor<2x1x1x3xf32>
  %2 = graph.exp %1 : (tensor<2x1x1x3xf32>) -> tensor<2x1x1x3xf32>
  func.return %0, %2 : tensor<2x1x1x3xf32>, tensor<2x1x1x3xf32>
}
