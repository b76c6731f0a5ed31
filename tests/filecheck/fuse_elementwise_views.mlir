// RUN: graphc opt %s -p fuse-elementwise | filecheck %s

// fuse-elementwise: data movement fuses like arithmetic (each output element reads one input
// element): a transpose, a slice, a concat and a pad around elementwise ops form one loop region;
// a max pool joins with the relu before it (the relu runs for each window tap it feeds).

// CHECK:      fusion.region "fusion_0" kind "loop"(%x, %y) {shape = array<i64: 8, 6>}
// CHECK-NEXT: ^bb0
// CHECK-NEXT:   graph.transpose
// CHECK-NEXT:   graph.neg
// CHECK-NEXT:   graph.slice
// CHECK-NEXT:   graph.concat
// CHECK-NEXT:   graph.pad
// CHECK-NEXT:   graph.exp
// CHECK-NEXT:   fusion.yield
// CHECK:      fusion.region "fusion_1" kind "loop"(%img) {shape = array<i64: 1, 4, 4, 3>}
// CHECK-NEXT: ^bb0
// CHECK-NEXT:   graph.relu
// CHECK-NEXT:   graph.max_pool
// CHECK-NEXT:   fusion.yield

func.func @main(%x: tensor<4x8xf32>, %y: tensor<8x2xf32>, %img: tensor<1x8x8x3xf32>) -> (tensor<8x6xf32>, tensor<1x4x4x3xf32>) {
  %t = graph.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %n = graph.neg %t : (tensor<8x4xf32>) -> tensor<8x4xf32>
  %s = graph.slice %n {starts = array<i64: 0, 0>, limits = array<i64: 8, 3>, strides = array<i64: 1, 1>} : (tensor<8x4xf32>) -> tensor<8x3xf32>
  %c = graph.concat %s, %y {axis = 1 : i64} : (tensor<8x3xf32>, tensor<8x2xf32>) -> tensor<8x5xf32>
  %p = graph.pad %c {low = array<i64: 0, 1>, high = array<i64: 0, 0>, interior = array<i64: 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<8x5xf32>) -> tensor<8x6xf32>
  %e = graph.exp %p : (tensor<8x6xf32>) -> tensor<8x6xf32>
  %r = graph.relu %img : (tensor<1x8x8x3xf32>) -> tensor<1x8x8x3xf32>
  %m = graph.max_pool %r {window = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (tensor<1x8x8x3xf32>) -> tensor<1x4x4x3xf32>
  func.return %e, %m : tensor<8x6xf32>, tensor<1x4x4x3xf32>
}
