// Package rt is the policy runtime: the resolved policy (Spec) that the
// front end produces and everything that runs policies consumes.
//
// rt imports only the standard library, so a program that runs generated
// policy code links rt and nothing of the compiler.
package rt
