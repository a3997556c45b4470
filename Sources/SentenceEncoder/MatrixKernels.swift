#if canImport(Glibc)
import Glibc
#endif

/// The encoder's float32 kernels. The module is compiled for x86-64-v3 like the vector index,
/// so `SIMD8<Float>` lowers to AVX2 registers and `addingProduct` to `vfmadd…ps`.
enum MatrixKernels {
    /// `output[m×n] = input[m×k] · weightᵀ + bias`, where `weight` is `n×k` row-major (a
    /// PyTorch linear layer's layout) and `k` is a multiple of 8. Rows of `input` and `weight`
    /// are both contiguous in `k`, so each output is a dot product; a 3×4 block of them shares
    /// its loads (12 accumulators, 3 input and 1 weight register: the 16 `ymm` registers).
    static func linear(_ input: UnsafePointer<Float>, rows m: Int, inner k: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                       columns n: Int, output: UnsafeMutablePointer<Float>) {
        precondition(k % 8 == 0, "inner dimension \(k) is not a multiple of 8")
        let a = UnsafeRawPointer(input), b = UnsafeRawPointer(weight)
        let rowBytes = k * 4
        // Tiles of about 128 KB of input rows (a multiple of 3), which stay in L2 while every
        // group of 4 weight rows (in L1) passes over them: the weights are read from memory once
        // per tile, not once per 3 rows.
        let tileRows = max(3, (32_768 / k) / 3 * 3)
        var tile = 0
        while tile < m {
            let tileEnd = min(tile + tileRows, m)
            let blockedEnd = tile + (tileEnd - tile) / 3 * 3
            var j = 0
            while j + 4 <= n {
                var i = tile
                while i < blockedEnd {
                    block3x4(a + i * rowBytes, b + j * rowBytes, rowBytes: rowBytes, k: k, into: output + i * n + j, stride: n, bias: bias + j)
                    i += 3
                }
                j += 4
            }
            // The columns left of a width not a multiple of 4, and the rows left of a tile not a
            // multiple of 3.
            for i in tile..<tileEnd {
                let firstColumn = i < blockedEnd ? j : 0
                for column in firstColumn..<n { output[i * n + column] = dot(a + i * rowBytes, b + column * rowBytes, k: k) + bias[column] }
            }
            tile = tileEnd
        }
    }

    @inline(__always)
    private static func block3x4(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, rowBytes: Int, k: Int, into c: UnsafeMutablePointer<Float>, stride: Int,
                                 bias: UnsafePointer<Float>) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c02 = SIMD8<Float>(), c03 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>(), c12 = SIMD8<Float>(), c13 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c22 = SIMD8<Float>(), c23 = SIMD8<Float>()
        let a1 = a + rowBytes, a2 = a + 2 * rowBytes
        let b1 = b + rowBytes, b2 = b + 2 * rowBytes, b3 = b + 3 * rowBytes
        var offset = 0
        let end = k * 4
        while offset < end {
            let x0 = a.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            let x1 = a1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            let x2 = a2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            var w = b.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            c00 = c00.addingProduct(x0, w); c10 = c10.addingProduct(x1, w); c20 = c20.addingProduct(x2, w)
            w = b1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            c01 = c01.addingProduct(x0, w); c11 = c11.addingProduct(x1, w); c21 = c21.addingProduct(x2, w)
            w = b2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            c02 = c02.addingProduct(x0, w); c12 = c12.addingProduct(x1, w); c22 = c22.addingProduct(x2, w)
            w = b3.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            c03 = c03.addingProduct(x0, w); c13 = c13.addingProduct(x1, w); c23 = c23.addingProduct(x2, w)
            offset += 32
        }
        let biases = SIMD4<Float>(bias[0], bias[1], bias[2], bias[3])
        store(SIMD4(c00.sum(), c01.sum(), c02.sum(), c03.sum()) + biases, c)
        store(SIMD4(c10.sum(), c11.sum(), c12.sum(), c13.sum()) + biases, c + stride)
        store(SIMD4(c20.sum(), c21.sum(), c22.sum(), c23.sum()) + biases, c + 2 * stride)
    }

    @inline(__always)
    private static func store(_ values: SIMD4<Float>, _ target: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(target).storeBytes(of: values, as: SIMD4<Float>.self)
    }

    /// `Σ aᵢbᵢ` over `k` floats, `k` a multiple of 8.
    @inline(__always)
    static func dot(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, k: Int) -> Float {
        var sum = SIMD8<Float>()
        var offset = 0
        while offset < k * 4 {
            sum = sum.addingProduct(a.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), b.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
            offset += 32
        }
        return sum.sum()
    }

    /// `row = layerNorm(row) · gamma + beta` for each of `rows` rows of `width` floats (BERT's,
    /// with the variance over the row, not the unbiased one).
    static func layerNorm(_ data: UnsafeMutablePointer<Float>, rows: Int, width: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float) {
        for r in 0..<rows {
            let row = data + r * width
            var sum: Float = 0
            for i in 0..<width { sum += row[i] }
            let mean = sum / Float(width)
            var squares: Float = 0
            for i in 0..<width {
                let d = row[i] - mean
                squares += d * d
            }
            let scale = 1 / (squares / Float(width) + epsilon).squareRoot()
            for i in 0..<width { row[i] = (row[i] - mean) * scale * gamma[i] + beta[i] }
        }
    }

    /// GELU as BERT defines it, with the error function (not the tanh approximation).
    static func gelu(_ data: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = data[i]
            data[i] = 0.5 * x * (1 + erff(x * 0.70710678118654752))
        }
    }

    /// `row += addend` element by element.
    static func add(_ addend: UnsafePointer<Float>, to data: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { data[i] += addend[i] }
    }
}
