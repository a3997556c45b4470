/// Float32 distance kernels. Each SIMD kernel has a scalar reference beside it
/// (`Reference`) that tests compare it with for every dimension.
///
/// The module is compiled for x86-64-v3, so `SIMD16<Float>` arithmetic lowers to AVX2 `ymm`
/// registers and `addingProduct` to `vfmadd…ps`. Measured with Swift 6.3: `a * b + c` is never
/// contracted (it stays `vmulps` + `vaddps`), and without the FMA target feature
/// `addingProduct` would become scalar `fmaf` calls; `scripts/check-kernels.sh` disassembles the
/// release objects in `make test` and fails on any `fmaf` call or on the absence of `vfmadd`.
public enum Distance {
    /// Inner product `Σ aᵢbᵢ`.
    /// - Precondition: `a.count == b.count`.
    /// - Complexity: O(d)
    public static func dot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        precondition(a.count == b.count, "dimension mismatch: \(a.count) vs \(b.count)")
        let count = a.count
        let pa = UnsafeRawPointer(a.baseAddress!)
        let pb = UnsafeRawPointer(b.baseAddress!)
        var sum0 = SIMD16<Float>(), sum1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= count {
            let a0 = pa.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let b0 = pb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let a1 = pa.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
            let b1 = pb.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
            sum0 = sum0.addingProduct(a0, b0)
            sum1 = sum1.addingProduct(a1, b1)
            i += 32
        }
        if i + 16 <= count {
            let a0 = pa.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let b0 = pb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            sum0 = sum0.addingProduct(a0, b0)
            i += 16
        }
        var result = (sum0 + sum1).sum()
        while i < count {
            result += a[i] * b[i]
            i += 1
        }
        return result
    }

    /// Squared Euclidean distance `Σ (aᵢ - bᵢ)²`.
    /// - Precondition: `a.count == b.count`.
    /// - Complexity: O(d)
    public static func squaredL2(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        precondition(a.count == b.count, "dimension mismatch: \(a.count) vs \(b.count)")
        let count = a.count
        let pa = UnsafeRawPointer(a.baseAddress!)
        let pb = UnsafeRawPointer(b.baseAddress!)
        var sum0 = SIMD16<Float>(), sum1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= count {
            let d0 = pa.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                - pb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let d1 = pa.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
                - pb.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
            sum0 = sum0.addingProduct(d0, d0)
            sum1 = sum1.addingProduct(d1, d1)
            i += 32
        }
        if i + 16 <= count {
            let d0 = pa.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                - pb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            sum0 = sum0.addingProduct(d0, d0)
            i += 16
        }
        var result = (sum0 + sum1).sum()
        while i < count {
            let d = a[i] - b[i]
            result += d * d
            i += 1
        }
        return result
    }

    /// Cosine distance `1 - a·b` for vectors already normalized to unit length.
    /// - Complexity: O(d)
    public static func cosineNormalized(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        1 - dot(a, b)
    }

    /// Inner products of `query` with four vectors at once: one pass over the query feeds four
    /// independent memory streams, which is what bounds graph search at high dimensions.
    /// - Precondition: every pointer addresses `count` floats.
    /// - Complexity: O(d)
    @inline(__always)
    public static func dot4(
        _ query: UnsafePointer<Float>, _ v0: UnsafePointer<Float>, _ v1: UnsafePointer<Float>,
        _ v2: UnsafePointer<Float>, _ v3: UnsafePointer<Float>, count: Int
    ) -> SIMD4<Float> {
        let q = UnsafeRawPointer(query)
        let p0 = UnsafeRawPointer(v0), p1 = UnsafeRawPointer(v1), p2 = UnsafeRawPointer(v2), p3 = UnsafeRawPointer(v3)
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        var i = 0
        while i + 16 <= count {
            let offset = i * 4
            let x = q.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            s0 = s0.addingProduct(x, p0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self))
            s1 = s1.addingProduct(x, p1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self))
            s2 = s2.addingProduct(x, p2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self))
            s3 = s3.addingProduct(x, p3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self))
            i += 16
        }
        var result = SIMD4<Float>(s0.sum(), s1.sum(), s2.sum(), s3.sum())
        while i < count {
            result += SIMD4(v0[i], v1[i], v2[i], v3[i]) * query[i]
            i += 1
        }
        return result
    }

    /// Squared Euclidean distances of `query` to four vectors at once (see `dot4`).
    /// - Precondition: every pointer addresses `count` floats.
    /// - Complexity: O(d)
    @inline(__always)
    public static func squaredL2x4(
        _ query: UnsafePointer<Float>, _ v0: UnsafePointer<Float>, _ v1: UnsafePointer<Float>,
        _ v2: UnsafePointer<Float>, _ v3: UnsafePointer<Float>, count: Int
    ) -> SIMD4<Float> {
        let q = UnsafeRawPointer(query)
        let p0 = UnsafeRawPointer(v0), p1 = UnsafeRawPointer(v1), p2 = UnsafeRawPointer(v2), p3 = UnsafeRawPointer(v3)
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        var i = 0
        while i + 16 <= count {
            let offset = i * 4
            let x = q.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let d0 = x - p0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let d1 = x - p1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let d2 = x - p2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let d3 = x - p3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            s0 = s0.addingProduct(d0, d0)
            s1 = s1.addingProduct(d1, d1)
            s2 = s2.addingProduct(d2, d2)
            s3 = s3.addingProduct(d3, d3)
            i += 16
        }
        var result = SIMD4<Float>(s0.sum(), s1.sum(), s2.sum(), s3.sum())
        while i < count {
            let d = SIMD4(v0[i], v1[i], v2[i], v3[i]) - query[i]
            result += d * d
            i += 1
        }
        return result
    }

    /// Scalar reference implementations: the definition the SIMD kernels are tested against.
    public enum Reference {
        public static func dot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
            precondition(a.count == b.count)
            var sum: Double = 0
            for i in 0..<a.count { sum += Double(a[i]) * Double(b[i]) }
            return Float(sum)
        }

        public static func squaredL2(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
            precondition(a.count == b.count)
            var sum: Double = 0
            for i in 0..<a.count {
                let d = Double(a[i]) - Double(b[i])
                sum += d * d
            }
            return Float(sum)
        }

        public static func cosineNormalized(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
            1 - dot(a, b)
        }
    }
}
