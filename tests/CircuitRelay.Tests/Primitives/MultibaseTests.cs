using CircuitRelay.Multiformats;

namespace CircuitRelay.Tests.Primitives;

public sealed class MultibaseTests
{
    private static readonly byte[] YesMani = System.Text.Encoding.ASCII.GetBytes("yes mani !");

    [Theory]
    [InlineData('z', "z7paNL19xttacUY")]
    [InlineData('b', "bpfsxgidnmfxgsibb")]
    [InlineData('B', "BPFSXGIDNMFXGSIBB")]
    [InlineData('u', "ueWVzIG1hbmkgIQ")]
    [InlineData('m', "meWVzIG1hbmkgIQ")]
    [InlineData('f', "f796573206d616e692021")]
    [InlineData('F', "F796573206D616E692021")]
    public void Encode_SpecVector_ProducesExpectedText(char prefix, string expected)
    {
        Multibase.Encode(prefix, YesMani).Should().Be(expected);
    }

    [Theory]
    [InlineData("z7paNL19xttacUY")]
    [InlineData("bpfsxgidnmfxgsibb")]
    [InlineData("BPFSXGIDNMFXGSIBB")]
    [InlineData("ueWVzIG1hbmkgIQ")]
    [InlineData("meWVzIG1hbmkgIQ")]
    [InlineData("f796573206d616e692021")]
    [InlineData("F796573206D616E692021")]
    public void Decode_SpecVector_ReturnsBytes(string text)
    {
        Multibase.Decode(text).Should().Equal(YesMani);
    }

    [Fact]
    public void EncodeDecode_RandomBytesEveryBase_RoundTrip()
    {
        var random = new Random(7);
        foreach (char prefix in "zbBumfF")
        {
            for (int length = 0; length < 70; length++)
            {
                var data = new byte[length];
                random.NextBytes(data);
                if (length > 2)
                {
                    data[0] = 0;
                }

                Multibase.Decode(Multibase.Encode(prefix, data)).Should().Equal(data, "prefix {0} length {1}", prefix, length);
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("x123")]
    [InlineData("z0OIl")]
    [InlineData("bPFSX")]
    [InlineData("b1")]
    [InlineData("ba")]
    [InlineData("bab")]
    [InlineData("u+/")]
    [InlineData("m-_")]
    [InlineData("mA===")]
    [InlineData("f7")]
    [InlineData("fzz")]
    [InlineData("fAB")]
    [InlineData("z\u00e9")]
    public void Decode_Malformed_ThrowsFormatException(string text)
    {
        Action act = () => Multibase.Decode(text);
        act.Should().Throw<FormatException>();
    }

    [Theory]
    [InlineData("bab")]
    [InlineData("mAB")]
    [InlineData("uAB")]
    public void Decode_NonZeroTrailingBits_ThrowsFormatException(string text)
    {
        Action act = () => Multibase.Decode(text);
        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void Base58Encode_LeadingZeros_BecomeOnes()
    {
        Base58.Encode([0, 0, 1]).Should().Be("112");
        Base58.Decode("112").Should().Equal(0, 0, 1);
    }

    [Fact]
    public void Base58Encode_Empty_IsEmpty()
    {
        Base58.Encode([]).Should().BeEmpty();
        Base58.Decode(string.Empty).Should().BeEmpty();
    }

    [Fact]
    public void Base32Encode_Rfc4648Vectors_MatchWithoutPadding()
    {
        string[] expected = ["", "my", "mzxq", "mzxw6", "mzxw6yq", "mzxw6ytb", "mzxw6ytboi"];
        for (int i = 0; i < expected.Length; i++)
        {
            BaseN.Base32Lower.Encode(System.Text.Encoding.ASCII.GetBytes("foobar"[..i])).Should().Be(expected[i]);
        }
    }

    [Fact]
    public void Base64UrlEncode_UrlAlphabet_UsesDashAndUnderscore()
    {
        BaseN.Base64Url.Encode([0xfb, 0xff]).Should().Be("-_8");
        BaseN.Base64.Encode([0xfb, 0xff]).Should().Be("+/8");
    }
}
