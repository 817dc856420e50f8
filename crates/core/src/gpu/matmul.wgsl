// y[m, n] = act(x[m, k] . w[n, k]^T + b[n]): a dense layer with the weight in Hugging Face's
// [out, in] layout. 64 x 64 output tiles, 16 x 16 threads of 4 x 4 outputs each, the operands
// staged in workgroup memory 16 columns of k at a time. The weight is stored as f32, f16 or
// int8 (see WEIGHTS below); it is expanded to f32 as it is staged.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    // 0 none, 1 GELU (erf), 2 GELU (tanh), 3 ReLU, 4 tanh.
    act: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
// WEIGHTS: the weight's storage and how element `index` of it (row-major) is read. kernels.rs
// puts the f16 and int8 forms in place of these lines.
@group(0) @binding(1) var<storage, read> w: array<f32>;
fn weight(index: u32) -> f32 { return w[index]; }
// END WEIGHTS
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;

var<workgroup> xs: array<f32, 1024>;
var<workgroup> ws: array<f32, 1024>;

// erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7): WGSL has no erf.
fn erf(v: f32) -> f32 {
    let a = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(v) * (1.0 - poly * exp(-a * a));
}

fn activate(v: f32) -> f32 {
    switch p.act {
        case 1u: { return 0.5 * v * (1.0 + erf(v * 0.70710678118654752)); }
        case 2u: {
            let inner = 0.79788456080286536 * (v + 0.044715 * v * v * v);
            return 0.5 * v * (1.0 + tanh(clamp(inner, -15.0, 15.0)));
        }
        case 3u: { return max(v, 0.0); }
        case 4u: { return tanh(clamp(v, -15.0, 15.0)); }
        default: { return v; }
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let row0 = group.y * TILE;
    let col0 = group.x * TILE;
    let thread = local.y * 16u + local.x;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < p.k; k0 += DEPTH) {
        for (var i = 0u; i < 4u; i++) {
            let index = thread + i * 256u;
            let r = index / DEPTH;
            let c = index % DEPTH;
            let kc = k0 + c;
            var xv = 0.0;
            if (row0 + r < p.m && kc < p.k) {
                xv = x[(row0 + r) * p.k + kc];
            }
            xs[r * DEPTH + c] = xv;
            var wv = 0.0;
            if (col0 + r < p.n && kc < p.k) {
                wv = weight((col0 + r) * p.k + kc);
            }
            ws[r * DEPTH + c] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = xs[(local.y + 16u * i) * DEPTH + kk];
                b[i] = ws[(local.x + 16u * i) * DEPTH + kk];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + local.y + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + local.x + 16u * j;
            if (row < p.m && col < p.n) {
                y[row * p.n + col] = activate(acc[i * 4u + j] + bias[col]);
            }
        }
    }
}
