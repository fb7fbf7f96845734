// Package lexer holds what every stage of moec shares about source text:
// tokens, compact positions and the line table that makes them printable,
// and the scanner. The diagnostics that every stage reports live in package
// diag.
//
// The scanner follows the reference language's lexical rules: '#' comments
// to the end of the line, ';' ignored like white space, unsigned INT and
// NUMBER literals (007, .5, 1., 5e-1, 1.5E2), identifiers
// [A-Za-z_][A-Za-z0-9_]*, and the comparison operators < > <= >= !=. There
// are no strings, no signs and no "==": each is reported with a message
// that says what to write instead.
package lexer
