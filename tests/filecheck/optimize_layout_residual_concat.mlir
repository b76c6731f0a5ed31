// RUN: graphc opt %s -p optimize-layout | filecheck %s

// optimize-layout on an NCHW residual block with two branches, ONNX-importer style (every conv and
// max pool between transpose(0,2,3,1) and transpose(0,3,1,2)): the residual add joins two NCHW
// values, and the concat joins a conv branch and a pooling branch along the channel axis (1). In
// NHWC the add needs nothing, the concat's axis becomes 3, and of the ten run-time transposes only
// the input's and the output's remain.

// CHECK:      func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> attributes {graphc.layout = {transposes_before = 10 : i64, transposes_after = 2 : i64}}
// CHECK-NEXT:   %[[F:.*]] = graph.constant {{.*}} : tensor<1x1x2x2xf32>
// CHECK-NEXT:   %[[FC:.*]] = graph.constant {value = dense<{{\[\[\[\[}}1.000000e+00, 5.000000e+00], [2.000000e+00, 6.000000e+00], [3.000000e+00, 7.000000e+00], [4.000000e+00, 8.000000e+00]]]]> : tensor<1x1x4x2xf32>}
// CHECK-NEXT:   %[[IN:.*]] = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:   %[[A:.*]] = graph.conv2d %[[IN]], %[[F]]
// CHECK-NEXT:   %[[R:.*]] = graph.relu %[[A]] : (tensor<1x4x4x2xf32>)
// CHECK-NEXT:   %[[C:.*]] = graph.conv2d %[[R]], %[[F]]
// CHECK-NEXT:   %[[SUM:.*]] = graph.add %[[C]], %[[A]] : (tensor<1x4x4x2xf32>, tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
// CHECK-NEXT:   %[[S:.*]] = graph.relu %[[SUM]]
// CHECK-NEXT:   %[[LEFT:.*]] = graph.conv2d %[[S]], %[[F]]
// CHECK-NEXT:   %[[RIGHT:.*]] = graph.max_pool %[[S]]
// CHECK-NEXT:   %[[CAT:.*]] = graph.concat %[[LEFT]], %[[RIGHT]] {axis = 3 : i64} : (tensor<1x4x4x2xf32>, tensor<1x4x4x2xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT:   %[[Y:.*]] = graph.conv2d %[[CAT]], %[[FC]]
// CHECK-NEXT:   %[[OUT:.*]] = graph.transpose %[[Y]] {perm = array<i64: 0, 3, 1, 2>}
// CHECK-NEXT:   func.return %[[OUT]]

func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = graph.constant {value = dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>} : tensor<2x2x1x1xf32>
  %f = graph.transpose %w {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x2x1x1xf32>) -> tensor<1x1x2x2xf32>
  %wc = graph.constant {value = dense<[[[[1.0]], [[2.0]], [[3.0]], [[4.0]]], [[[5.0]], [[6.0]], [[7.0]], [[8.0]]]]> : tensor<2x4x1x1xf32>} : tensor<2x4x1x1xf32>
  %fc = graph.transpose %wc {perm = array<i64: 2, 3, 1, 0>} : (tensor<2x4x1x1xf32>) -> tensor<1x1x4x2xf32>
  %0 = graph.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %1 = graph.conv2d %0, %f {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %a = graph.transpose %1 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %r = graph.relu %a : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %2 = graph.transpose %r {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %3 = graph.conv2d %2, %f {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %c = graph.transpose %3 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %sum = graph.add %c, %a : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %s = graph.relu %sum : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %4 = graph.transpose %s {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %5 = graph.conv2d %4, %f {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x4x4x2xf32>
  %left = graph.transpose %5 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %6 = graph.transpose %s {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32>
  %7 = graph.max_pool %6 {window = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>} : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %right = graph.transpose %7 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  %cat = graph.concat %left, %right {axis = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32>
  %8 = graph.transpose %cat {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %9 = graph.conv2d %8, %fc {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<1x1x4x2xf32>) -> tensor<1x4x4x2xf32>
  %y = graph.transpose %9 {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32>
  func.return %y : tensor<1x2x4x4xf32>
}
