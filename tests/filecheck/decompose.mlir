// RUN: graphc opt %s -p decompose | filecheck %s

// decompose: composite ops become simple ones the fusion passes and backends know.
// softmax(x) = e / reduce_sum(e) with e = exp(x - reduce_max(x)), over `axis`, keeping dims:

// CHECK-LABEL: func.func @softmax
// CHECK-NEXT:   %[[MAX:.*]] = graph.reduce_max %x {axes = array<i64: 1>, keepdims = 1 : i64}
// CHECK-NEXT:   %[[D:.*]] = graph.sub %x, %[[MAX]]
// CHECK-NEXT:   %[[E:.*]] = graph.exp %[[D]]
// CHECK-NEXT:   %[[SUM:.*]] = graph.reduce_sum %[[E]] {axes = array<i64: 1>, keepdims = 1 : i64}
// CHECK-NEXT:   %[[Y:.*]] = graph.div %[[E]], %[[SUM]]
// CHECK-NEXT:   func.return %[[Y]]

// log_softmax(x) = s - log(reduce_sum(exp(s))) with s = x - reduce_max(x):
// CHECK-LABEL: func.func @log_softmax
// CHECK-NEXT:   %[[MAX:.*]] = graph.reduce_max %x
// CHECK-NEXT:   %[[S:.*]] = graph.sub %x, %[[MAX]]
// CHECK-NEXT:   %[[E:.*]] = graph.exp %[[S]]
// CHECK-NEXT:   %[[SUM:.*]] = graph.reduce_sum %[[E]]
// CHECK-NEXT:   %[[L:.*]] = graph.log %[[SUM]]
// CHECK-NEXT:   %[[Y:.*]] = graph.sub %[[S]], %[[L]]
// CHECK-NEXT:   func.return %[[Y]]

// batch_norm(x) = x * a + b with a = scale * rsqrt(var + eps) and b = offset - mean * a:
// CHECK-LABEL: func.func @batch_norm
// CHECK-NEXT:   %[[EPS:.*]] = graph.constant {value = dense<1.000000e-03> : tensor<f32>}
// CHECK-NEXT:   %[[VE:.*]] = graph.add %var, %[[EPS]]
// CHECK-NEXT:   %[[INV:.*]] = graph.rsqrt %[[VE]]
// CHECK-NEXT:   %[[A:.*]] = graph.mul %scale, %[[INV]]
// CHECK-NEXT:   %[[MA:.*]] = graph.mul %mean, %[[A]]
// CHECK-NEXT:   %[[B:.*]] = graph.sub %offset, %[[MA]]
// CHECK-NEXT:   %[[XA:.*]] = graph.mul %x, %[[A]]
// CHECK-NEXT:   %[[Y:.*]] = graph.add %[[XA]], %[[B]]
// CHECK-NEXT:   func.return %[[Y]]

func.func @softmax(%x: tensor<4x10xf32>) -> tensor<4x10xf32> {
  %0 = graph.softmax %x {axis = 1 : i64} : (tensor<4x10xf32>) -> tensor<4x10xf32>
  func.return %0 : tensor<4x10xf32>
}

func.func @log_softmax(%x: tensor<4x10xf32>) -> tensor<4x10xf32> {
  %0 = graph.log_softmax %x {axis = 1 : i64} : (tensor<4x10xf32>) -> tensor<4x10xf32>
  func.return %0 : tensor<4x10xf32>
}

func.func @batch_norm(%x: tensor<1x4x4x8xf32>, %scale: tensor<8xf32>, %offset: tensor<8xf32>, %mean: tensor<8xf32>, %var: tensor<8xf32>) -> tensor<1x4x4x8xf32> {
  %0 = graph.batch_norm %x, %scale, %offset, %mean, %var {epsilon = 1.0e-3 : f64} : (tensor<1x4x4x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x4x4x8xf32>
  func.return %0 : tensor<1x4x4x8xf32>
}
