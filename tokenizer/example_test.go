package tokenizer_test

import (
	"fmt"

	"github.com/moepolicy/moec/tokenizer"
)

func Example() {
	// Mixtral's tokenizer.json, the SentencePiece form: its post-processor
	// puts <s> (id 1) first, its normalizer "▁" before the text, and its
	// decoder takes that space away again.
	tk, err := tokenizer.LoadFile("testdata/llama2-tokenizer.json.gz", tokenizer.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tk.Encode("Hello world")
	fmt.Println(ids, tk.EncodePlain("Hello world"))
	text, err := tk.Decode(ids[1:])
	fmt.Printf("%q %v\n", text, err)
	_, err = tk.Decode([]int{32000})
	fmt.Println(err)
	// Output:
	// [1 22557 1526] [22557 1526]
	// "Hello world" <nil>
	// token id 32000 is not in the vocabulary (size 32000)
}
