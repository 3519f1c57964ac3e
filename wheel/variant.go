package wheel

import "encoding/json"

// VariantFile is the member name, in .dist-info, of a PEP 825 (draft)
// variant wheel's metadata: what its label stands for.
const VariantFile = "variant.json"

// VariantProperties reads the content of a variant wheel's
// .dist-info/variant.json, {"variants": {label: {namespace: {feature:
// [values]}}}}, and returns the properties label stands for; ok is false
// when the file has no entry for it. An error is the JSON decoder's.
func VariantProperties(raw []byte, label string) (props map[string]map[string][]string, ok bool, err error) {
	var doc struct {
		Variants map[string]map[string]map[string][]string `json:"variants"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, false, err
	}
	props, ok = doc.Variants[label]
	return props, ok, nil
}
