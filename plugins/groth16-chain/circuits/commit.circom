pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";

// A Poseidon commitment to the boundary states of a chain cut into `count` segments,
// 1 <= count <= MAX (MAX < 2^16).
//
// Private input: boundaries[0..MAX]. boundaries[0..count] are the states s(0), s(size), ...,
// s(count * size); the padding boundaries[count+1..MAX] must be 0.
// Public inputs, in this order: first = boundaries[0], last = boundaries[count], commitment, count.
//
// commitment = a Poseidon sponge over x = [count, boundaries[0], ..., boundaries[MAX]]:
//   acc = Poseidon(x[0..15]); then, while elements remain, acc = Poseidon(acc, next <= 15 elements).
template ChainCommit(MAX) {
    signal input first;
    signal input last;
    signal input commitment;
    signal input count;
    signal input boundaries[MAX + 1];

    // 1 <= count <= MAX
    component low = Num2Bits(16);
    low.in <== count - 1;
    component high = Num2Bits(16);
    high.in <== MAX - count;

    // isLast[i] = (i == count); active[i] = (i <= count), the sum of isLast[i..MAX].
    component isLast[MAX + 1];
    signal active[MAX + 2];
    signal picked[MAX + 1];
    active[MAX + 1] <== 0;
    var lastSum = 0;
    for (var i = MAX; i >= 1; i--) {
        isLast[i] = IsEqual();
        isLast[i].in[0] <== count;
        isLast[i].in[1] <== i;
        active[i] <== active[i + 1] + isLast[i].out;
        // Padding past `count` is zero.
        (1 - active[i]) * boundaries[i] === 0;
        picked[i] <== isLast[i].out * boundaries[i];
        lastSum += picked[i];
    }
    first === boundaries[0];
    last === lastSum;

    // The sponge.
    var LEN = MAX + 2;
    var ROUNDS = 1 + (LEN - 16 + 14) \ 15;
    component h[ROUNDS];
    h[0] = Poseidon(16);
    h[0].inputs[0] <== count;
    for (var k = 1; k < 16; k++) h[0].inputs[k] <== boundaries[k - 1];
    var next = 16;
    for (var r = 1; r < ROUNDS; r++) {
        var take = LEN - next < 15 ? LEN - next : 15;
        h[r] = Poseidon(take + 1);
        h[r].inputs[0] <== h[r - 1].out;
        for (var k = 0; k < take; k++) h[r].inputs[k + 1] <== boundaries[next + k - 1];
        next += take;
    }
    commitment === h[ROUNDS - 1].out;
}
