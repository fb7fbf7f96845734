package tokenizer_test

import (
	"fmt"

	"github.com/moepolicy/moec/tokenizer"
)

func Example() {
	tk, err := tokenizer.LoadFile("testdata/qwen3-tokenizer.json.gz", tokenizer.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tk.Encode("<|im_start|>user\nhello world<|im_end|>")
	fmt.Println(ids)
	text, err := tk.Decode(ids)
	fmt.Printf("%q %v\n", text, err)
	_, err = tk.Decode([]int{151669})
	fmt.Println(err)
	// Output:
	// [151644 872 198 14990 1879 151645]
	// "<|im_start|>user\nhello world<|im_end|>" <nil>
	// token id 151669 is not in the vocabulary (size 151669)
}
