#if canImport(Glibc)
import Glibc
#endif

/// A linear layer's `n×k` weight (PyTorch's layout: one row per output) repacked in panels
/// of 24 outputs: panel `p` holds, for each `t` in `0..<k`, the 24 weights `W[24p + c][t]`
/// side by side, so the kernel reads each panel front to back. Owns its memory.
final class PackedMatrix: @unchecked Sendable {
    static let panelWidth = 24
    let base: UnsafeMutablePointer<Float>
    let columns: Int
    let inner: Int

    /// - Precondition: `columns` is a multiple of 24.
    init(_ weight: UnsafePointer<Float>, columns: Int, inner: Int) {
        precondition(columns % Self.panelWidth == 0, "\(columns) outputs are not a multiple of \(Self.panelWidth)")
        self.columns = columns
        self.inner = inner
        base = .allocate(capacity: columns * inner)
        for panel in 0..<columns / Self.panelWidth {
            for t in 0..<inner {
                let target = base + (panel * inner + t) * Self.panelWidth
                for c in 0..<Self.panelWidth { target[c] = weight[(panel * Self.panelWidth + c) * inner + t] }
            }
        }
    }

    deinit { base.deallocate() }
}

/// The encoder's float32 kernels. The module is compiled for x86-64-v3 like the vector index,
/// so `SIMD8<Float>` lowers to AVX2 registers and `addingProduct` to `vfmadd…ps`.
enum MatrixKernels {
    /// `output[m×n] = input[m×k] · weightᵀ + bias`, with the weight packed (`PackedMatrix`).
    /// Each block of 4 input rows × 24 output columns keeps its 12 sums in registers while one
    /// pass over `k` broadcasts an input value and multiplies it by 24 packed weights (3 loads,
    /// 4 broadcasts, 12 fused multiply-adds per step; no horizontal sums). Input rows are taken
    /// in tiles of about 64 KB, which stay in the cache while every panel passes over them.
    static func linear(_ input: UnsafePointer<Float>, rows m: Int, weight: PackedMatrix, bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let k = weight.inner, n = weight.columns, width = PackedMatrix.panelWidth
        let full = m / 4 * 4
        let tileRows = max(4, (65_536 / (k * 4)) / 4 * 4)
        var tile = 0
        while tile < full {
            let end = min(tile + tileRows, full)
            for panel in 0..<n / width {
                let weights = weight.base + panel * k * width
                var row = tile
                while row < end {
                    block4x24(input + row * k, k: k, panel: weights, bias: bias + panel * width, output: output + row * n + panel * width, stride: n)
                    row += 4
                }
            }
            tile = end
        }
        guard full < m else { return }
        // The last 1–3 rows, through a copy padded with zero rows.
        let rest = m - full
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: 4 * k)
        let result = UnsafeMutablePointer<Float>.allocate(capacity: 4 * n)
        defer { padded.deallocate(); result.deallocate() }
        padded.initialize(repeating: 0, count: 4 * k)
        padded.update(from: input + full * k, count: rest * k)
        for panel in 0..<n / width {
            block4x24(padded, k: k, panel: weight.base + panel * k * width, bias: bias + panel * width, output: result + panel * width, stride: n)
        }
        (output + full * n).update(from: result, count: rest * n)
    }

    @inline(__always)
    private static func block4x24(_ a: UnsafePointer<Float>, k: Int, panel: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                  output: UnsafeMutablePointer<Float>, stride: Int) {
        let initial = UnsafeRawPointer(bias)
        let bias0 = initial.loadUnaligned(fromByteOffset: 0, as: SIMD8<Float>.self)
        let bias1 = initial.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let bias2 = initial.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        var c00 = bias0, c01 = bias1, c02 = bias2, c10 = bias0, c11 = bias1, c12 = bias2
        var c20 = bias0, c21 = bias1, c22 = bias2, c30 = bias0, c31 = bias1, c32 = bias2
        let a1 = a + k, a2 = a + 2 * k, a3 = a + 3 * k
        var w = UnsafeRawPointer(panel)
        for t in 0..<k {
            let w0 = w.loadUnaligned(fromByteOffset: 0, as: SIMD8<Float>.self)
            let w1 = w.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            let w2 = w.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
            var x = SIMD8<Float>(repeating: a[t])
            c00 = c00.addingProduct(x, w0); c01 = c01.addingProduct(x, w1); c02 = c02.addingProduct(x, w2)
            x = SIMD8<Float>(repeating: a1[t])
            c10 = c10.addingProduct(x, w0); c11 = c11.addingProduct(x, w1); c12 = c12.addingProduct(x, w2)
            x = SIMD8<Float>(repeating: a2[t])
            c20 = c20.addingProduct(x, w0); c21 = c21.addingProduct(x, w1); c22 = c22.addingProduct(x, w2)
            x = SIMD8<Float>(repeating: a3[t])
            c30 = c30.addingProduct(x, w0); c31 = c31.addingProduct(x, w1); c32 = c32.addingProduct(x, w2)
            w += 96
        }
        func store(_ row: Int, _ values: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
            let target = UnsafeMutableRawPointer(output + row * stride)
            target.storeBytes(of: values.0, toByteOffset: 0, as: SIMD8<Float>.self)
            target.storeBytes(of: values.1, toByteOffset: 32, as: SIMD8<Float>.self)
            target.storeBytes(of: values.2, toByteOffset: 64, as: SIMD8<Float>.self)
        }
        store(0, (c00, c01, c02))
        store(1, (c10, c11, c12))
        store(2, (c20, c21, c22))
        store(3, (c30, c31, c32))
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
