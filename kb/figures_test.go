package kb

import (
	"slices"
	"testing"
)

func TestFigures(t *testing.T) {
	tests := []struct {
		lang, text string
		want       []string
	}{
		{"en", "341 million trips, up 2.05 billion yuan and 30,000 permits", []string{"30000", "341000000", "2050000000"}},
		{"zh", "3.41亿人次，节省20.5亿元，近3万人", []string{"30000", "341000000", "2050000000"}},
		{"fr", "341 millions de voyages, 2,05 milliards de yuans, 30 000 permis", []string{"30000", "341000000", "2050000000"}},
		{"es", "341 millones de viajes, 2,05 mil millones de yuanes, 30.000 permisos", []string{"30000", "341000000", "2050000000"}},
		{"ru", "341 млн поездок, 2,05 млрд юаней, 30 000 разрешений", []string{"30000", "341000000", "2050000000"}},
		{"ar", "341 مليون رحلة و2.05 مليار يوان و30,000 تصريح", []string{"30000", "341000000", "2050000000"}},
		{"ar", "١٤٤ ساعة", []string{"144"}},
		{"en", "since 10 July, up 129.9%", []string{"10", "129.9", "7"}},
		{"zh", "自7月10日起，增长129.9%", []string{"10", "129.9", "7"}},
		{"ru", "с 10 июля", []string{"10", "7"}},
		{"es", "los militares y 5 mil turistas", []string{"5000"}},
		{"en", "you may stay 144 hours", []string{"144"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+tt.text, func(t *testing.T) {
			got := Figures(tt.lang, tt.text)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
