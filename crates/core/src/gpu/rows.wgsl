// Row-wise steps on [rows, hidden] activations, one workgroup of 256 threads per row:
// `add_norm` (a residual or position row added, then LayerNorm, in place) and `gather` (rows
// picked by index: each text's `<s>`).

struct Params {
    rows: u32,
    hidden: u32,
    // Workgroups along x: a row index is x + y * groups_x (more than 65,535 rows).
    groups_x: u32,
    eps: f32,
    // add_norm: whether the rows added are picked by `index`.
    indexed: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> other: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> partial: array<f32, 256>;

fn reduce_sum(local: u32, value: f32) -> f32 {
    partial[local] = value;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (local < stride) {
            partial[local] += partial[local + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

// LayerNorm of row `row` of x in place, as torch computes it: the mean, then the mean of the
// squared deviations (two passes, not E[x^2] - E[x]^2).
fn norm_row(row: u32, local: u32) {
    let base = row * p.hidden;
    var sum = 0.0;
    for (var i = local; i < p.hidden; i += 256u) {
        sum += x[base + i];
    }
    let mean = reduce_sum(local, sum) / f32(p.hidden);
    var squares = 0.0;
    for (var i = local; i < p.hidden; i += 256u) {
        let d = x[base + i] - mean;
        squares += d * d;
    }
    let variance = reduce_sum(local, squares) / f32(p.hidden);
    let scale = inverseSqrt(variance + p.eps);
    for (var i = local; i < p.hidden; i += 256u) {
        x[base + i] = (x[base + i] - mean) * scale * gamma[i] + beta[i];
    }
}

// x[r] = LayerNorm(x[r] + other[r]), or with `indexed` LayerNorm(x[r] + other[index[r]]): the
// embeddings, where x holds the word rows, other the position table (token type 0 added) and
// index the position ids.
@compute @workgroup_size(256)
fn add_norm(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let row = group.x + group.y * p.groups_x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.hidden;
    var from_row = row;
    if (p.indexed != 0u) {
        from_row = index[row];
    }
    let added = from_row * p.hidden;
    for (var i = local.x; i < p.hidden; i += 256u) {
        x[base + i] += other[added + i];
    }
    norm_row(row, local.x);
}

// x[r] = other[index[r]].
@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let row = group.x + group.y * p.groups_x;
    if (row >= p.rows) {
        return;
    }
    let source_row = index[row] * p.hidden;
    for (var i = local.x; i < p.hidden; i += 256u) {
        x[row * p.hidden + i] = other[source_row + i];
    }
}
