pragma circom 2.1.0;

include "commit.circom";

component main {public [first, last, commitment, count]} = ChainCommit(64);
