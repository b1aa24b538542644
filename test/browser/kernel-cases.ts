// Cases for the kernels beyond `add`; kept in one place so Node and the browser page run the same list.
export {};
