// For editors and `tsc -p assembly` only (asc never reads this file): the stub runtime's allocator entry
// points, which asc provides to every program but AssemblyScript's published typings leave undeclared.
declare function __alloc(size: usize): usize;
declare function __free(ptr: usize): void;
declare function __reset(): void;
