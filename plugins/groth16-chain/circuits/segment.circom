pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";

// One segment of the Poseidon hash chain s(i+1) = Poseidon(s(i), i).
//
// Public inputs, in this order: start = s(offset), offset, end = s(offset + N).
// The circuit recomputes the N steps from `start` and constrains the last state to `end`.
template ChainSegment(N) {
    signal input start;
    signal input offset;
    signal input end;

    signal state[N + 1];
    component step[N];
    state[0] <== start;
    for (var j = 0; j < N; j++) {
        step[j] = Poseidon(2);
        step[j].inputs[0] <== state[j];
        step[j].inputs[1] <== offset + j;
        state[j + 1] <== step[j].out;
    }
    end === state[N];
}
