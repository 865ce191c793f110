pragma circom 2.1.0;

include "segment.circom";

component main {public [start, offset, end]} = ChainSegment(16);
