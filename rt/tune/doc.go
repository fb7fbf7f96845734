// Package tune replays many variants of policies over one routing trace
// held in memory, several at a time, and compares them: Tune searches a
// grid of configurations and ranks them at equal capacity by modeled time
// per token or hit rate, with Belady's optimum for the same slots beside
// the best; Sweep measures policies at every cache capacity of a range.
// Both price a replay with the Replayer's cost model, or with the
// hardware figures a policy states itself. `moec tune` and
// `moec sweep` are their command lines.
//
// Every replay runs on replay's simulated mechanism, which checks each
// plan, so a variant that makes an impossible plan is an error, not a
// number. The results do not depend on how many replays run at a time.
//
// tune stands beside rt/replay rather than inside rt, whose packages
// import only the standard library and rt: reading a grid file reports
// unknown keys and words with a "did you mean" from internal/spell, as
// the checker of .moe files does.
package tune
