// RUN: graphc opt %s -p fuse-elementwise | filecheck %s
// RUN: graphc opt %s -p 'fuse-elementwise{max-ops=2},fuse-remaining' | filecheck %s --check-prefix=LIMIT

// fuse-elementwise: elementwise and broadcast chains become one `loop` region whose iteration space
// is the result's shape; per-column vectors and scalars are read at their broadcast index, and the
// scalar constant is copied into the region as an immediate.
// relu(x * a + b) * sigmoid(x): `x` has two consumers, both land in the region, so it is read once.

// CHECK-LABEL: func.func @main
// CHECK:       %[[R:.*]] = fusion.region "fusion_0" kind "loop"(%x, %a, %b) {shape = array<i64: 64, 32>}
// CHECK-NEXT:  ^bb0(%[[X:.*]]: tensor<64x32xf32>, %[[A:.*]]: tensor<32xf32>, %[[B:.*]]: tensor<32xf32>):
// CHECK-NEXT:    %[[C:.*]] = graph.constant {value = dense<2.000000e+00> : tensor<f32>}
// CHECK-NEXT:    %[[M:.*]] = graph.mul %[[X]], %[[A]]
// CHECK-NEXT:    %[[S:.*]] = graph.add %[[M]], %[[B]]
// CHECK-NEXT:    %[[RELU:.*]] = graph.relu %[[S]]
// CHECK-NEXT:    %[[SIG:.*]] = graph.sigmoid %[[X]]
// CHECK-NEXT:    %[[P:.*]] = graph.mul %[[RELU]], %[[SIG]]
// CHECK-NEXT:    %[[OUT:.*]] = graph.mul %[[P]], %[[C]]
// CHECK-NEXT:    fusion.yield %[[OUT]] : tensor<64x32xf32>
// CHECK-NEXT:  }
// CHECK-NEXT:  func.return %[[R]]

// With at most two ops per region (a pass option: the cost model's `max_ops`) the chain is cut
// into several regions, named in program order; fuse-remaining gives the leftovers their own.
// LIMIT:      fusion.region "fusion_0" kind "loop"(%x, %a, %b)
// LIMIT-NEXT: ^bb0
// LIMIT-NEXT:   graph.mul
// LIMIT-NEXT:   graph.add
// LIMIT-NEXT:   fusion.yield
// LIMIT:      fusion.region "fusion_1" kind "loop"(%x)
// LIMIT-NEXT: ^bb0
// LIMIT-NEXT:   graph.sigmoid
// LIMIT-NEXT:   fusion.yield
// LIMIT:      fusion.region "fusion_2" kind "loop"
// LIMIT-NEXT: ^bb0
// LIMIT-NEXT:   graph.relu
// LIMIT-NEXT:   graph.mul
// LIMIT-NEXT:   fusion.yield
// LIMIT:      fusion.region "fusion_3" kind "loop"
// LIMIT-NEXT: ^bb0
// LIMIT-NEXT:   graph.constant
// LIMIT-NEXT:   graph.mul
// LIMIT-NEXT:   fusion.yield
// LIMIT-NOT:  fusion.region

func.func @main(%x: tensor<64x32xf32>, %a: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<64x32xf32> {
  %0 = graph.mul %x, %a : (tensor<64x32xf32>, tensor<32xf32>) -> tensor<64x32xf32>
  %1 = graph.add %0, %b : (tensor<64x32xf32>, tensor<32xf32>) -> tensor<64x32xf32>
  %2 = graph.relu %1 : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %3 = graph.sigmoid %x : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %c = graph.constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %4 = graph.mul %2, %3 : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  %5 = graph.mul %4, %c : (tensor<64x32xf32>, tensor<f32>) -> tensor<64x32xf32>
  func.return %5 : tensor<64x32xf32>
}
